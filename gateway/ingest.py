"""Intake from outside SMTP: ``POST /api/ingest`` and ``mailassist ingest``. The same durable commit as the
gateway's (``gateway.intake.commit``: blob fsync'd, receipt committed, then the queue woken), the same trust
record on the receipt, and the receipt's source (``api``, ``file``) recorded beside it.

Who submitted the message is vouched for by whoever hands it in, not read from the message: an ``ingest`` token
is its user's own credential (proof ``api``), like a personal assistant address; ``mailassist ingest --as USER`` is
the operator's word (proof ``file``). What the message says may name anyone; it is filed for that user only.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import structlog

from gateway import policy
from gateway.admission import trust_of
from gateway.intake import Accepted, Arrival, IntakeStore, ReceiptWriter, commit
from gateway.outbox import InlineOutbox
from gateway.trust import Accept, Refuse
from gateway.users import email_of
from linker.errors import LinkerError
from linker.explain import check_email
from linker.submitter import normalize_address
from store import InboundView, StoreError

log = structlog.get_logger("gateway")

#: The sources a receipt may record besides ``smtp`` and ``imap:NAME``.
API = "api"
FILE = "file"


class IngestReceipts(ReceiptWriter, Protocol):
    """The receipts verbs ingest needs beyond the gateway's."""

    def find_inbound_copy(self, sha256: str, submitter: str) -> InboundView | None: ...


class IngestStore(IntakeStore, Protocol):
    """What ingest needs of the store beyond the gateway's intake."""

    @property
    def receipts(self) -> IngestReceipts: ...


@dataclass(frozen=True, slots=True)
class Voucher:
    """Who hands a message in, and so who submitted it: a user's address, the proof recorded (``api``,
    ``file``) and what vouched, for people (``ingest token 'crm-sync'``)."""

    user: str
    proof: str
    detail: str


@dataclass(frozen=True, slots=True)
class Ingested:
    """A message that is in: its receipt id, and whether it was a copy of one this user already handed in."""

    inbound_id: str
    sha256: str
    submitter: str
    duplicate: bool = False


#: One message's answer: in (new or duplicate), or the refusal SMTP would have answered.
Outcome = Ingested | Refuse


def not_an_email(reason: str) -> Refuse:
    """The 554 for bytes that do not read as an email (what ``explain`` also refuses)."""
    return Refuse(f"554 5.6.0 Not an email: {reason.removeprefix('not an email: ')}", "not_an_email")


def unknown_user(address: str) -> Refuse:
    """The 550 for a voucher naming no registered user."""
    return Refuse(
        f"550 5.7.1 {address} is not a registered user: the assistant files mail only for its CRM users",
        "unknown_submitter",
    )


class Ingestor:
    """``ingest(raw, source=…, voucher=…)`` → ``Ingested`` once its receipt is committed, or the ``Refuse`` SMTP
    would answer. Blocking (database, fsync): call it on a thread. Raises ``StoreError`` when the store fails (the
    caller's 451 / 503: nothing was taken)."""

    def __init__(
        self,
        store: IngestStore,
        *,
        enqueue: Callable[[Sequence[str]], None],
        max_size: int,
        store_timeout: float = 30.0,
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.enqueue = enqueue
        self.max_size = max_size
        self.store_timeout = store_timeout
        self.executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-ingest")

    def submitter(self, address: str) -> str | None:
        """The primary address of the user ``address`` belongs to (by primary address or alias), or ``None``."""
        key = normalize_address(address)
        return email_of(self.store.directory.find_users_by_addresses([key]).get(key))

    def ingest(
        self,
        raw: bytes,
        *,
        source: str,
        voucher: Voucher,
        mail_from: str = "",
        rcpt_tos: Iterable[str] = (),
    ) -> Outcome:
        """Take one message, as SMTP would with the voucher's proof."""
        (outcome,) = self.ingest_many([raw], source=source, voucher=voucher, mail_from=mail_from, rcpt_tos=rcpt_tos)
        return outcome

    def ingest_many(
        self,
        raws: Sequence[bytes],
        *,
        source: str,
        voucher: Voucher,
        mail_from: str = "",
        rcpt_tos: Iterable[str] = (),
    ) -> list[Outcome]:
        """Take several messages of one voucher in ONE group commit (one transaction, one fsync: an IMAP back-fill's
        batch), each refused, found a duplicate or committed as ``ingest`` would. Raises ``StoreError`` when the
        commit fails: then none of them, or (one bad row) not all of them, were taken."""
        outcomes: list[Outcome | None] = [None] * len(raws)
        user = self.submitter(voucher.user)
        #: sha256 → index of the first message of the batch with those bytes: a later one is its duplicate.
        first: dict[str, int] = {}
        arrivals: list[tuple[int, Arrival]] = []
        deadline = time.monotonic() + self.store_timeout
        trust = trust_of(Accept(user or "", voucher.proof, voucher.proof, voucher.proof, voucher.detail), None)
        for i, raw in enumerate(raws):
            if len(raw) > self.max_size:
                outcomes[i] = Refuse(policy.too_big(self.max_size), "too_big")
                continue
            try:
                check_email(raw)
            except LinkerError as exc:
                outcomes[i] = not_an_email(str(exc))
                continue
            if user is None:
                outcomes[i] = unknown_user(voucher.user)
                continue
            sha256 = hashlib.sha256(raw).hexdigest()
            if sha256 in first:
                continue  # filled in below, once the first copy has its receipt
            first[sha256] = i
            copy = self.store.receipts.find_inbound_copy(sha256, user)
            if copy is not None:
                outcomes[i] = Ingested(copy.id, copy.sha256, user, duplicate=True)
                continue
            arrival = Arrival(raw, mail_from, list(rcpt_tos), None, None, deadline, trust, voucher.proof, source)
            arrivals.append((i, arrival))
        if arrivals:
            self._commit(arrivals, outcomes, source=source, proof=voucher.proof)
        for i, raw in enumerate(raws):
            if outcomes[i] is None:  # a repeat, within the batch, of a message taken above
                taken = outcomes[first[hashlib.sha256(raw).hexdigest()]]
                assert isinstance(taken, Ingested)
                outcomes[i] = Ingested(taken.inbound_id, taken.sha256, taken.submitter, duplicate=True)
        return [o for o in outcomes if o is not None]

    def _commit(
        self, arrivals: list[tuple[int, Arrival]], outcomes: list[Outcome | None], *, source: str, proof: str
    ) -> None:
        outbox = InlineOutbox(self.enqueue)
        committed = commit(self.store, [a for _, a in arrivals], self.executor, outbox)
        # After the commit: a broker that is down costs a wake-up (the sweeper re-sends), never the receipt.
        outbox.flush()
        failed: BaseException | None = None
        for (i, _), outcome in zip(arrivals, committed, strict=True):
            if isinstance(outcome, BaseException):
                failed = failed or outcome
                continue
            # A back-fill says what it took in its summary: one line per message only for the API.
            (log.info if source == API else log.debug)(
                "ingest accepted",
                inbound_id=outcome.inbound_id,
                source=source,
                size=outcome.size,
                sha256=outcome.sha256[:16],
                submitter=outcome.submitter,
                proof=proof,
            )
            outcomes[i] = _ingested(outcome)
        if failed is not None:
            if isinstance(failed, StoreError):
                raise failed
            raise StoreError(f"{type(failed).__name__}: {failed}") from failed

    def close(self) -> None:
        """Stop the blob thread."""
        self.executor.shutdown(wait=False)


def _ingested(accepted: Accepted) -> Ingested:
    return Ingested(accepted.inbound_id, accepted.sha256, accepted.submitter)
