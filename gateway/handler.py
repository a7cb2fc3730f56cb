"""aiosmtpd hooks: thin glue between the protocol engine, the pure policy and the store."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway import policy
from gateway.admission import Admission, AdmissionSettings, Admitted
from gateway.commands import protocol_names
from gateway.committer import GroupCommitter
from gateway.mailauth import Authenticator
from gateway.outbox import InlineOutbox, Outbox
from gateway.storage import StorageProcess, StorageProcessError
from gateway.trust import Refuse, TrustSettings
from gateway.users import UserCache
from linker.submitter import Candidate
from store import InboundView, RejectionTally, StoreError, StoreUnavailableError, Trust
from store.repo import StagedInbound

log = structlog.get_logger("gateway")

#: Threads that write blobs for the SMTP sessions (the runtime gives the SMTP process at least this many, one per
#: DATA slot; a storage process makes its own).
INTAKE_THREADS = 8

#: How long a user lookup is trusted for accepting mail (refusals always ask the database again).
USER_CACHE_SECONDS = 60.0

#: The attribute of an aiosmtpd ``Envelope`` holding the user a secret recipient address named (RCPT to DATA).
SECRET_USER = "mailassist_secret_user"  # noqa: S105 - an attribute name, not a secret


class Intake(Protocol):
    """What the gateway needs from the store."""

    def find_users_by_addresses(self, addresses: Iterable[str]) -> Mapping[str, object]: ...

    def find_user_by_assistant_token(self, token_hash: str) -> object | None: ...

    def stage_inbound(
        self,
        raw: bytes,
        *,
        mail_from: str,
        rcpt_tos: Sequence[str],
        peer: str | None,
        helo: str | None,
        deadline: float | None,
        trust: Trust | None,
    ) -> StagedInbound: ...

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> Sequence[InboundView | StoreError]: ...


class _Arrival(NamedTuple):
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


@dataclass(frozen=True, slots=True)
class _Staged:
    staged: StagedInbound
    submitter: Candidate


class _Accepted(NamedTuple):
    """What the SMTP reply and its log line need of a committed receipt (a tuple, for the storage process's
    answer), and the user it came in for."""

    inbound_id: str
    rcpt_tos: tuple[str, ...]
    size: int
    sha256: str
    submitter: str
    via: str

    @classmethod
    def of(cls, inbound: InboundView, submitter: Candidate) -> _Accepted:
        receipt = (inbound.id, tuple(inbound.rcpt_tos), inbound.size, inbound.sha256)
        return cls(*receipt, submitter.address, submitter.source)


def _outcome(fn: Callable[[_Arrival], _Staged], arrival: _Arrival) -> _Staged | BaseException:
    """``fn(arrival)``, or the exception it raised: one arrival's failure is that arrival's answer only."""
    try:
        return fn(arrival)
    except Exception as exc:
        return exc


def _peer(session: Session) -> str | None:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer) if peer else None


class GatewayHandler:
    """RCPT and DATA policy. Storage runs in the storage process (``storage_process``), or on the group committer's
    thread (blobs of one batch in parallel on ``executor``): the event loop never waits on disk or database."""

    def __init__(
        self,
        *,
        intake: Intake,
        recipients: policy.RecipientPolicy,
        executor: Executor,
        enqueue: Callable[[Sequence[str]], None],
        max_recipients: int = 20,
        store_timeout: float = 30.0,
        user_cache_seconds: float = USER_CACHE_SECONDS,
        storage_process: bool = False,
        trust: AdmissionSettings | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.intake = intake
        self.recipients = recipients
        self.executor = executor
        self.max_recipients = max_recipients
        self.store_timeout = store_timeout
        self.users = UserCache(intake.find_users_by_addresses, ttl=user_cache_seconds)
        # Who submitted each message, and what proves it (DESIGN.md invariant 8), before anything is stored.
        self.admission = Admission(
            recipients=recipients,
            users=self.users,
            find_token_user=intake.find_user_by_assistant_token,
            authenticator=authenticator,
            settings=trust or AdmissionSettings(TrustSettings()),
        )
        self._enqueue = enqueue
        # The whole storage step in a child process (gateway.storage), or on threads of this one.
        self.storage: StorageProcess[_Arrival | _Staged, _Accepted] | None = (
            StorageProcess(
                self._intake,
                after_fork=self._after_fork,
                after_answer=self._after_answer,
                before_exit=self._before_exit,
            )
            if storage_process
            else None
        )
        # Concurrent DATA commands share one directory sync and one transaction (invariant 1 per message).
        self.committer: GroupCommitter[_Arrival | _Staged, _Accepted] = GroupCommitter(
            self._intake, runner=self._commit_in_child if self.storage is not None else None
        )
        # Its own thread: a black-holed broker (connect timeouts) must never hold up storage. With a storage
        # process, the child sends (its own outbox, made after the fork).
        self.outbox: Outbox | InlineOutbox | None = Outbox(enqueue) if self.storage is None else None
        # Refused mail leaves no inbound row: /metrics counts refusals, written in batches on the storage threads.
        self._rejections = RejectionTally(getattr(intake, "add_rejections", None), executor.submit)

    def __dir__(self) -> list[str]:
        return protocol_names(type(self))

    def count_refusal(self, reply: str, reason: str) -> None:
        """Count one refusal for ``/metrics`` by its reply code and a short reason (``not_aligned``,
        ``data_timeout``…). Cheap and never raises: safe on the event loop."""
        self._rejections.add(reply, reason)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """aiosmtpd's EHLO reply without ``AUTH``: nobody logs in to this gateway (submitters prove themselves per
        message), so advertising it after STARTTLS would only invite password guessing."""
        session.host_name = hostname
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = policy.too_many_recipients(len(envelope.rcpt_tos), self.max_recipients) or self.recipients.check(
            address
        )
        reason = "too_many_recipients" if refusal and refusal.startswith("452") else "unknown_recipient"
        token = self.recipients.token_of(address) if refusal is None else None
        if token is not None:
            # A secret address is checked here, before a DATA slot is taken, and never cached: a rotated token
            # stops working at once.
            user = await asyncio.get_running_loop().run_in_executor(self.executor, self.admission.secret_user, token)
            if user is None:
                refusal, reason = policy.unknown_personal_address(address), "unknown_secret_address"
            elif getattr(envelope, SECRET_USER, None) is None:
                setattr(envelope, SECRET_USER, user)
        if refusal:
            log.info("smtp rcpt refused", peer=_peer(session), rcpt=address, mail_from=envelope.mail_from, why=reason)
            self.count_refusal(refusal, reason)
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        peer = _peer(session)
        started = time.perf_counter()
        try:
            admitted = await self._admit(raw, mail_from, envelope, peer, session.host_name)
        except Exception:
            log.exception("smtp trust check crashed", peer=peer, mail_from=mail_from, size=len(raw))
            return policy.TEMPORARY_FAILURE
        if isinstance(admitted, Refuse):
            log.info(
                "smtp data refused",
                peer=peer,
                mail_from=mail_from,
                rcpt_tos=envelope.rcpt_tos,
                size=len(raw),
                why=admitted.reason,
                reply=admitted.reply,
            )
            self.count_refusal(admitted.reply, admitted.reason)
            return admitted.reply
        arrival = _Arrival(
            raw,
            mail_from,
            list(envelope.rcpt_tos),
            peer,
            session.host_name,
            time.monotonic() + self.store_timeout,
            admitted.trust,
            admitted.verdict.via,
        )
        try:
            # A hung database must not hang the session: past store_timeout the sender hears 451 and retries.
            async with asyncio.timeout(self.store_timeout):
                result = await self.committer.submit(arrival)
        except TimeoutError:
            log.error("smtp store timed out", peer=peer, mail_from=mail_from, size=len(raw), seconds=self.store_timeout)
            return policy.TEMPORARY_FAILURE
        except StoreError as exc:
            log.error("smtp store failed", peer=peer, mail_from=mail_from, size=len(raw), error=str(exc))
            return policy.TEMPORARY_FAILURE
        except Exception:
            log.exception("smtp intake crashed", peer=peer, mail_from=mail_from, size=len(raw))
            return policy.TEMPORARY_FAILURE
        log.info(
            "smtp accepted",
            inbound_id=result.inbound_id,
            peer=peer,
            mail_from=mail_from,
            rcpt_tos=list(result.rcpt_tos),
            size=result.size,
            sha256=result.sha256[:16],
            submitter=result.submitter,
            via=result.via,
            proof=admitted.verdict.proof,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return f"250 2.0.0 Ok: queued as {result.inbound_id}"

    async def _admit(
        self, raw: bytes, mail_from: str, envelope: Envelope, peer: str | None, helo: str | None
    ) -> Admitted | Refuse:
        """The trust verdict: on the event loop when caches can answer, else on a blob thread (database, DNS)."""
        secret_user = getattr(envelope, SECRET_USER, None)
        rcpt_tos = list(envelope.rcpt_tos)
        quick = self.admission.quick(
            raw, mail_from=mail_from, rcpt_tos=rcpt_tos, peer=peer, helo=helo, secret_user=secret_user
        )
        if quick is not None:
            return quick
        admit = functools.partial(
            self.admission.admit,
            raw,
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            peer=peer,
            helo=helo,
            secret_user=secret_user,
        )
        return await asyncio.get_running_loop().run_in_executor(self.executor, admit)

    async def _commit_in_child(self, arrivals: Sequence[_Arrival | _Staged]) -> list[_Accepted | BaseException]:
        """The committer's runner with a storage process: messages over ``inline_max`` are staged here first, on
        the blob threads, so only their receipts cross to the child, never their bytes (the memory bound of
        ``max_concurrent_data`` stays what it was); the child stages the rest and commits the batch."""
        if self.storage is None:  # it was lost: threads from now on
            return list(await self.committer.run_on_thread(arrivals))
        inline_max = getattr(self.intake, "inline_max", 0)
        items: list[_Arrival | _Staged | BaseException] = list(arrivals)
        big = {i: a for i, a in enumerate(arrivals) if isinstance(a, _Arrival) and len(a.raw) > inline_max}
        if big:
            loop = asyncio.get_running_loop()
            staged = await asyncio.gather(
                *(loop.run_in_executor(self.executor, _outcome, self._stage, a) for a in big.values())
            )
            for i, staged_one in zip(big, staged, strict=True):
                items[i] = staged_one
        sent = {i: item for i, item in enumerate(items) if isinstance(item, _Arrival | _Staged)}
        committed: Sequence[_Accepted | BaseException] = ()
        if sent:
            batch = list(sent.values())
            try:
                committed = await self.storage.run(batch)
            except StorageProcessError as exc:
                log.error("storing on threads of the SMTP process from now on", reason=str(exc))
                self.storage = None
                self.outbox = Outbox(self._enqueue)
                if exc.batch_sent:
                    raise  # the child may have committed some of it, unacknowledged: 451, the sender retries
                committed = await self.committer.run_on_thread(batch)
        answers = dict(zip(sent, committed, strict=True))
        # Items not sent already failed staging: their exception is their answer.
        return [answers[i] if isinstance(item, _Arrival | _Staged) else item for i, item in enumerate(items)]

    def _intake(self, items: Sequence[_Arrival | _Staged]) -> list[_Accepted | BaseException]:
        """One group commit, on the committer's thread or in the storage process: each message's blob (written and
        fsync'd, several at once on the executor; an item already ``_Staged`` has it), one transaction for all, then
        the queue sends.

        The event loop hands each batch over once and hears back once: a thread hop per message (to stage, then
        to send) cost more CPU than the storage itself.
        """
        inline_max = getattr(self.intake, "inline_max", 0)

        def staged_one(item: _Arrival | _Staged) -> _Staged | BaseException:
            return item if isinstance(item, _Staged) else _outcome(self._stage, item)

        if len(items) == 1 or all(isinstance(i, _Staged) or len(i.raw) <= inline_max for i in items):
            # Nothing to write to disk (small messages commit in the database): handing them to threads would
            # cost more than staging them here
            staged: list[_Staged | BaseException] = [staged_one(i) for i in items]
        else:
            staged = list(self.executor.map(staged_one, items))
        ready = [s for s in staged if isinstance(s, _Staged)]
        committed = iter(self.intake.add_inbound_batch([s.staged for s in ready]) if ready else ())
        outcomes: list[_Accepted | BaseException] = []
        for s in staged:
            if not isinstance(s, _Staged):
                outcomes.append(s)
                continue
            receipt = next(committed)
            outcomes.append(_Accepted.of(receipt, s.submitter) if isinstance(receipt, InboundView) else receipt)
        # After commit the rows are the truth and the broker only a wake-up call: if it is down, the sweeper
        # re-sends later, so the sends never delay or fail a 250 (they run on the outbox's own thread).
        assert self.outbox is not None
        self.outbox.send([o.inbound_id for o in outcomes if isinstance(o, _Accepted)])
        return outcomes

    def start(self) -> None:
        """Start the storage process, if there is one (before serving, so it forks from a quiet process)."""
        if self.storage is not None:
            self.storage.start()

    def _after_fork(self) -> None:
        """First thing in a new storage process: database connections, blob threads, an outbox and a user cache
        of its own (threads and pooled connections do not survive a fork, and must not be shared with it)."""
        after_fork = getattr(self.intake, "after_fork", None)
        if after_fork is not None:
            after_fork()
        self.executor = ThreadPoolExecutor(max_workers=INTAKE_THREADS, thread_name_prefix="intake")
        # Sent after each answer, on the storage process's one thread: no GIL to share with a sender thread.
        self.outbox = InlineOutbox(self._enqueue)

    def _after_answer(self) -> None:
        """In the storage process, once the batch's answer is sent: its queue wake-ups."""
        if isinstance(self.outbox, InlineOutbox):
            self.outbox.flush()

    def _before_exit(self) -> None:
        """Last thing in a storage process that was told to stop: send the wake-ups still pending."""
        if self.outbox is not None:
            self.outbox.close(self.store_timeout)

    def _stage(self, a: _Arrival) -> _Staged:
        """The blob's bytes, fsync'd, and the receipt with its trust verdict."""
        if time.monotonic() > a.deadline:
            raise StoreUnavailableError("storage busy: waited too long for the group commit")
        staged = self.intake.stage_inbound(
            a.raw,
            mail_from=a.mail_from,
            rcpt_tos=a.rcpt_tos,
            peer=a.peer,
            helo=a.helo,
            deadline=a.deadline,
            trust=a.trust,
        )
        return _Staged(staged, Candidate(a.trust.submitter, a.via))

    async def wait_enqueued(self, timeout: float) -> bool:
        """Wait for queue sends still pending (up to ``timeout``), then stop; True if all finished in time."""
        if self.storage is not None:
            finished = await self.storage.stop(timeout)
        else:
            assert self.outbox is not None
            finished = await asyncio.to_thread(self.outbox.close, timeout)
        self.committer.close()
        return finished

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp session error", error=repr(error))
        return "451 4.3.0 Internal server error"
