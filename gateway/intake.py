"""The intake of one DATA, after its trust verdict: stage the bytes (blob fsync'd, receipt built), commit batches in
one transaction (group commit), then wake the queue.

Storage runs in one of two places, both a ``Storage`` with one verb, ``store(batch)``: ``ThreadStorage`` on a
thread of the SMTP process with an ``Outbox``, or ``ProcessStorage`` in the storage process (``gateway.storage``)
with an ``InlineOutbox``. ``Intake`` feeds the group commit to whichever it holds; when the storage process is lost
it falls back by swapping that one object for a ``ThreadStorage``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, Protocol, Unpack

import structlog

from gateway.committer import GroupCommitter
from gateway.outbox import InlineOutbox, Outbox
from gateway.storage import StorageProcess, StorageProcessError
from linker.submitter import Candidate
from store import InboundView, StoreError, StoreUnavailableError, Trust
from store.auth import Auth
from store.lookups import Directory
from store.metrics import Metrics
from store.staged import Envelope, StagedInbound

log = structlog.get_logger("gateway")

#: Threads that write blobs for the SMTP sessions (the runtime gives the SMTP process at least this many, one per
#: DATA slot; a storage process makes its own).
INTAKE_THREADS = 8


class ReceiptWriter(Protocol):
    """The receipts verbs the intake uses (``store.receipts``)."""

    #: Messages up to this size commit their bytes in the database (nothing to write to disk before the commit).
    inline_max: int

    def stage_inbound(self, raw: bytes, **envelope: Unpack[Envelope]) -> StagedInbound: ...

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> Sequence[InboundView | StoreError]: ...


class IntakeStore(Protocol):
    """What the gateway needs from the store: its receipts (a protocol, so that tests can wrap them), the directory's
    user lookup, assistant addresses and refusal counts, and connections of its own in a forked child."""

    directory: Directory
    auth: Auth
    metrics: Metrics

    @property
    def receipts(self) -> ReceiptWriter: ...

    def after_fork(self) -> None:
        """In a forked storage process: connections of its own."""
        ...


class Arrival(NamedTuple):
    """One DATA's worth of input to storage (a tuple: it crosses to the storage process, and a slotted
    dataclass pickles several times slower)."""

    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    peer: str | None
    helo: str | None
    #: ``time.monotonic()`` past which the reply has already been given up on.
    deadline: float
    #: Who submitted it and what proved it (``gateway.admission``), recorded on the receipt.
    trust: Trust
    #: Where the submitter was named (``envelope``, ``From``, ``secret-address``…).
    via: str
    #: Where the message came from (``smtp``, ``api``, ``file``, ``imap:NAME``), recorded on the receipt.
    source: str = "smtp"


@dataclass(frozen=True, slots=True)
class Staged:
    staged: StagedInbound
    submitter: Candidate


class Accepted(NamedTuple):
    """What the SMTP reply and its log line need of a committed receipt (a tuple, for the storage process's
    answer), and the user it came in for."""

    inbound_id: str
    rcpt_tos: tuple[str, ...]
    size: int
    sha256: str
    submitter: str
    via: str

    @classmethod
    def of(cls, inbound: InboundView, submitter: Candidate) -> Accepted:
        receipt = (inbound.id, tuple(inbound.rcpt_tos), inbound.size, inbound.sha256)
        return cls(*receipt, submitter.address, submitter.source)


#: What storage is handed: arrivals, and messages over ``inline_max`` already staged by the SMTP process.
Item = Arrival | Staged
#: One outcome per item: its receipt, or the error its sender hears as 451.
Outcomes = Sequence[Accepted | BaseException]


def stage(store: IntakeStore, a: Arrival) -> Staged:
    """The blob's bytes, fsync'd, and the receipt with its trust verdict."""
    if time.monotonic() > a.deadline:
        raise StoreUnavailableError("storage busy: waited too long for the group commit")
    staged = store.receipts.stage_inbound(
        a.raw,
        mail_from=a.mail_from,
        rcpt_tos=a.rcpt_tos,
        peer=a.peer,
        helo=a.helo,
        deadline=a.deadline,
        trust=a.trust,
        source=a.source,
    )
    return Staged(staged, Candidate(a.trust.submitter, a.via))


def _outcome(fn: Callable[[Arrival], Staged], arrival: Arrival) -> Staged | BaseException:
    """``fn(arrival)``, or the exception it raised: one arrival's failure is that arrival's answer only."""
    try:
        return fn(arrival)
    except Exception as exc:
        return exc


def commit(
    store: IntakeStore, items: Sequence[Item], executor: Executor, outbox: Outbox | InlineOutbox
) -> list[Accepted | BaseException]:
    """One group commit, on a storage thread or in the storage process: each message's blob (written and fsync'd,
    several at once on ``executor``; an item already ``Staged`` has it), one transaction for all, then the queue
    sends.

    The event loop hands each batch over once and hears back once: a thread hop per message (to stage, then
    to send) cost more CPU than the storage itself.
    """

    def staged_one(item: Item) -> Staged | BaseException:
        return item if isinstance(item, Staged) else _outcome(lambda a: stage(store, a), item)

    inline_max = store.receipts.inline_max
    if len(items) == 1 or all(isinstance(i, Staged) or len(i.raw) <= inline_max for i in items):
        # Nothing to write to disk (small messages commit in the database): handing them to threads would
        # cost more than staging them here
        staged: list[Staged | BaseException] = [staged_one(i) for i in items]
    else:
        staged = list(executor.map(staged_one, items))
    ready = [s for s in staged if isinstance(s, Staged)]
    committed = iter(store.receipts.add_inbound_batch([s.staged for s in ready]) if ready else ())
    outcomes: list[Accepted | BaseException] = []
    for s in staged:
        if not isinstance(s, Staged):
            outcomes.append(s)
            continue
        receipt = next(committed)
        outcomes.append(Accepted.of(receipt, s.submitter) if isinstance(receipt, InboundView) else receipt)
    # After commit the rows are the truth and the broker only a wake-up call: if it is down, the sweeper
    # re-sends later, so the sends never delay or fail a 250.
    outbox.send([o.inbound_id for o in outcomes if isinstance(o, Accepted)])
    return outcomes


class Storage(Protocol):
    """Where batches are committed."""

    def start(self) -> None:
        """Get ready before serving."""
        ...

    async def store(self, batch: Sequence[Item]) -> Outcomes:
        """Commit ``batch``: one outcome per item."""
        ...

    async def stop(self, timeout: float) -> bool:
        """Send the queue wake-ups still pending (up to ``timeout``) and stop; True if all went in time."""
        ...


class ThreadStorage:
    """Storage on threads of the SMTP process: commits on a thread of its own (they never queue behind blob
    writes, and never overlap), blobs on ``executor``, queue sends on the ``Outbox``'s own thread (a black-holed
    broker must never hold up storage)."""

    def __init__(self, store: IntakeStore, executor: Executor, enqueue: Callable[[Sequence[str]], None]) -> None:
        self.repo = store
        self.executor = executor
        self.outbox = Outbox(enqueue)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-commit")

    def start(self) -> None:
        """Nothing to start."""

    async def store(self, batch: Sequence[Item]) -> Outcomes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, commit, self.repo, batch, self.executor, self.outbox)

    async def stop(self, timeout: float) -> bool:
        finished = await asyncio.to_thread(self.outbox.close, timeout)
        # A commit still running finishes on its own.
        self._thread.shutdown(wait=False, cancel_futures=True)
        return finished


class ProcessStorage:
    """Storage in the storage process. Messages over ``inline_max`` are staged here first, on the blob threads, so
    only their receipts cross to the child, never their bytes (the memory bound of ``max_concurrent_data`` stays
    what it was); the child stages the rest, commits the batch, answers, then sends the wake-ups (``InlineOutbox``).

    When the child is lost, ``fall_back`` gives the storage to use from then on (the batch goes there if none of it
    had reached the child)."""

    def __init__(
        self,
        store: IntakeStore,
        executor: Executor,
        enqueue: Callable[[Sequence[str]], None],
        *,
        fall_back: Callable[[str], Storage],
        store_timeout: float,
    ) -> None:
        self.repo = store
        self.executor = executor
        self.enqueue = enqueue
        self.fall_back = fall_back
        self.store_timeout = store_timeout
        self.outbox: InlineOutbox | None = None
        self.process: StorageProcess[Item, Accepted] = StorageProcess(
            self._commit, after_fork=self._after_fork, after_answer=self._after_answer, before_exit=self._before_exit
        )

    def start(self) -> None:
        """Fork the storage process (before serving, so it forks from a quiet process)."""
        self.process.start()

    async def store(self, batch: Sequence[Item]) -> Outcomes:
        inline_max = self.repo.receipts.inline_max
        items: list[Item | BaseException] = list(batch)
        big = {i: a for i, a in enumerate(batch) if isinstance(a, Arrival) and len(a.raw) > inline_max}
        if big:
            loop = asyncio.get_running_loop()
            staged = await asyncio.gather(
                *(loop.run_in_executor(self.executor, _outcome, self._stage, a) for a in big.values())
            )
            for i, staged_one in zip(big, staged, strict=True):
                items[i] = staged_one
        sent = {i: item for i, item in enumerate(items) if isinstance(item, Arrival | Staged)}
        committed: Outcomes = ()
        if sent:
            to_send = list(sent.values())
            try:
                committed = await self.process.run(to_send)
            except StorageProcessError as exc:
                threads = self.fall_back(str(exc))
                if exc.batch_sent:
                    raise  # the child may have committed some of it, unacknowledged: 451, the sender retries
                committed = await threads.store(to_send)
        answers = dict(zip(sent, committed, strict=True))
        # Items not sent already failed staging: their exception is their answer.
        return [answers[i] if isinstance(item, Arrival | Staged) else item for i, item in enumerate(items)]

    async def stop(self, timeout: float) -> bool:
        return await self.process.stop(timeout)

    def _stage(self, a: Arrival) -> Staged:
        return stage(self.repo, a)

    # --- in the storage process -------------------------------------------------------------------------------

    def _commit(self, items: Sequence[Item]) -> list[Accepted | BaseException]:
        assert self.outbox is not None
        return commit(self.repo, items, self.executor, self.outbox)

    def _after_fork(self) -> None:
        """First thing in a new storage process: database connections, blob threads and an outbox of its own
        (threads and pooled connections do not survive a fork, and must not be shared with it)."""
        self.repo.after_fork()
        self.executor = ThreadPoolExecutor(max_workers=INTAKE_THREADS, thread_name_prefix="intake")
        # Sent after each answer, on the storage process's one thread: no GIL to share with a sender thread.
        self.outbox = InlineOutbox(self.enqueue)

    def _after_answer(self) -> None:
        """Once the batch's answer is sent: its queue wake-ups."""
        if self.outbox is not None:
            self.outbox.flush()

    def _before_exit(self) -> None:
        """Last thing in a storage process that was told to stop: send the wake-ups still pending."""
        if self.outbox is not None:
            self.outbox.close(self.store_timeout)


class Intake:
    """``submit(arrival)`` → its receipt once committed: concurrent DATA commands share one directory sync and one
    transaction (invariant 1 per message), in the storage process (``storage_process``) or on threads here; the
    event loop never waits on disk or database."""

    def __init__(
        self,
        store: IntakeStore,
        *,
        executor: Executor,
        enqueue: Callable[[Sequence[str]], None],
        storage_process: bool = False,
        store_timeout: float = 30.0,
    ) -> None:
        self.store = store
        self.executor = executor
        self.enqueue = enqueue
        self.storage: Storage = (
            ProcessStorage(store, executor, enqueue, fall_back=self._fall_back, store_timeout=store_timeout)
            if storage_process
            else ThreadStorage(store, executor, enqueue)
        )
        self.committer: GroupCommitter[Item, Accepted] = GroupCommitter(runner=self._store)

    def start(self) -> None:
        """Start the storage process, if there is one."""
        self.storage.start()

    async def submit(self, arrival: Arrival) -> Accepted:
        """Commit ``arrival`` with whatever else is waiting; its receipt, or raise its error."""
        return await self.committer.submit(arrival)

    async def _store(self, batch: Sequence[Item]) -> Outcomes:
        # Looked up per batch: a fall-back swaps it (batches never overlap).
        return await self.storage.store(batch)

    def _fall_back(self, reason: str) -> Storage:
        log.error("storing on threads of the SMTP process from now on", reason=reason)
        self.storage = ThreadStorage(self.store, self.executor, self.enqueue)
        return self.storage

    async def stop(self, timeout: float) -> bool:
        """Wait for queue sends still pending (up to ``timeout``), then stop; True if all finished in time."""
        finished = await self.storage.stop(timeout)
        self.committer.close()
        return finished
