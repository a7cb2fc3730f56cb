"""The queue side of the linker: the ``link_inbound`` actor and the sweeper. The only module here doing I/O.

The database is the source of truth and the broker only a wake-up call: the actor processes a receipt only
while it is ``queued`` and moves it on with a conditional update, so a message sent twice (by the gateway and
by the sweeper, or redelivered by Redis) is processed once.
"""

from __future__ import annotations

import contextlib
import hashlib
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import structlog
from dramatiq.broker import MessageProxy

from linker.addresses import normalize_address
from linker.directory import Directory
from linker.errors import LinkerError
from linker.explain import chain_level_json
from linker.model import Link, LinkPlan, Original, Participant
from linker.pipeline import Envelope, run_pipeline
from linker.settings import LinkerSettings
from store import ApplyResult, InboundView, Store, Trust
from store.shapes import AttachmentWrite, CodeWrite, LeadWrite, LinkWrite, MessageWrite, ParticipantWrite, PlanWrite
from store.staged import Envelope as ReceiptEnvelope
from store.webhooks import DeliveryWrite, Outbox

log = structlog.get_logger("linker")

#: The source of a receipt made for a message forwarded beside another (``attached:<that receipt's id>``).
ATTACHED = "attached:"
#: The dramatiq queue every receipt goes through.
QUEUE_NAME = "inbound"
ACTOR_NAME = "link_inbound"
#: Stored length of a subject: RFC 5322's line limit. The raw message keeps the whole header.
MAX_SUBJECT_LENGTH = 998
#: Stored length of display names and lead companies (the columns are ``String(300)``; longer fails on PostgreSQL).
MAX_NAME_LENGTH = 300
#: Stored length of a text body (characters) and of an HTML body: what a page shows, search indexes and the API
#: returns. 1 Mi characters is hundreds of pages; an HTML body past 2 MiB is never rendered anyway
#: (``store.safehtml.MAX_RENDER_CHARS``), so a little more is kept for the frame to say so.
MAX_BODY_LENGTH = 1 << 20
MAX_HTML_LENGTH = (2 << 20) + 1


@dataclass(frozen=True, slots=True)
class QueueSettings:
    max_attempts: int = 5
    min_backoff: float = 5.0
    max_backoff: float = 300.0
    sweep_interval: float = 60.0
    sweep_grace: float = 600.0
    #: An actor run that takes longer than this is interrupted and retried.
    time_limit: float = 300.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What processing decided: a final status, a short reason, and what to write (``None``: status only)."""

    status: str
    reason: str | None = None
    write: PlanWrite | None = None
    #: A few facts for the log line (kind, links…).
    summary: dict[str, object] = field(default_factory=dict)
    #: The linker's plan, when there is one (what webhooks report, as ``explain`` shows it).
    plan: LinkPlan | None = None


#: Turns a receipt and its raw bytes into an outcome; reads the directory but writes nothing.
Pipeline = Callable[[InboundView, bytes], Outcome]
#: The webhook deliveries that report an outcome, given what its transaction did (``ApplyResult``, or ``None`` for a
#: status change only); written in that same transaction (``mailassist.webhooks``).
Notify = Callable[[InboundView, Outcome, ApplyResult | None], Sequence[DeliveryWrite]]


def empty_plan(inbound: InboundView, raw: bytes) -> Outcome:
    """A pipeline that links every message to nothing (for queue tests)."""
    return Outcome("linked", "empty plan")


def linker_pipeline(settings: LinkerSettings, directory: Directory) -> Pipeline:
    """The real pipeline over the store's directory (``Processor.process`` runs it inside ``Store.reading``, so one
    message's lookups share one connection instead of checking one out each)."""

    def run(inbound: InboundView, raw: bytes) -> Outcome:
        envelope = Envelope(inbound.mail_from, inbound.rcpt_tos, inbound.submitter, inbound.proof)
        plan = run_pipeline(raw, envelope=envelope, settings=settings, directory=directory)
        return outcome_of(plan, inbound)

    return run


def outcome_of(plan: LinkPlan, inbound: InboundView) -> Outcome:
    """Translate a plan into the store's write types (the store knows nothing of the linker)."""
    summary: dict[str, object] = {
        "kind": plan.kind,
        "direction": plan.direction,
        "links": len(plan.links),
        "new_leads": len(plan.new_leads),
        "parser": plan.parser,
    }
    if plan.decision == "reject":
        return Outcome("failed", plan.reason, summary=summary, plan=plan)
    if plan.decision == "ignore" or plan.original is None:
        return Outcome("ignored", plan.reason, PlanWrite("ignored", plan.reason, None), summary, plan)
    message = _message_write(plan, plan.original, inbound)
    return Outcome("linked", plan.reason, PlanWrite("linked", plan.reason, message), summary, plan)


def _message_write(plan: LinkPlan, o: Original, inbound: InboundView) -> MessageWrite:
    """The email a linked plan files, clipped to what the columns hold, with its people, links, leads and codes."""
    return MessageWrite(
        dedupe_key=plan.dedupe_key or f"sha:{inbound.sha256[:40]}",
        content_key=plan.content_key,
        message_id_header=o.message_id,
        subject=_clip(o.subject, MAX_SUBJECT_LENGTH),
        date=o.date,
        from_name=_clip(o.from_.name, MAX_NAME_LENGTH) if o.from_ else None,
        from_address=normalize_address(o.from_.address) if o.from_ and o.from_.address else None,
        direction=plan.direction or "incoming",
        kind=plan.kind or "bcc",
        submitter_user_id=plan.submitter_user_id,
        body_text=_clip(o.body, MAX_BODY_LENGTH),
        body_html=_clip(o.html, MAX_HTML_LENGTH),
        note=o.note,
        chain=tuple(chain_level_json(level) for level in o.chain),
        raw_sha256=inbound.sha256,
        participants=tuple(map(_participant_write, plan.participants)),
        links=tuple(map(_link_write, plan.links)),
        new_leads=tuple(
            LeadWrite(
                n.address, _clip(n.name, MAX_NAME_LENGTH), _clip(n.company, MAX_NAME_LENGTH), plan.submitter_user_id
            )
            for n in plan.new_leads
        ),
        codes=tuple(CodeWrite(c.code, c.record_id) for c in plan.codes),
        attachments=tuple(
            AttachmentWrite(a.filename, a.content_type, a.size, a.sha256, a.content_id, a.inline, a.data)
            for a in plan.attachments
        ),
    )


def _participant_write(p: Participant) -> ParticipantWrite:
    return ParticipantWrite(
        role=p.role,
        address=p.address,
        name=_clip(p.name, MAX_NAME_LENGTH),
        internal=p.internal,
        match_type=p.match.type if p.match else None,
        match_id=p.match.id if p.match else None,
        match_via=p.match.via if p.match else None,
    )


def _link_write(k: Link) -> LinkWrite:
    """A link as stored; a lead this plan creates has no id yet and is named by its address."""
    return LinkWrite(
        k.type,
        k.reason,
        entity_id=k.id,
        lead_address=k.label if k.id is None else None,
        from_message_id=k.thread_message,
    )


def _clip(value: str | None, length: int) -> str | None:
    """``value`` cut to ``length`` characters (the stored copy; the raw message keeps everything)."""
    return value[:length] if value is not None else None


class Processor:
    """Runs the pipeline over one receipt and records the result."""

    def __init__(
        self, store: Store, settings: QueueSettings, pipeline: Pipeline = empty_plan, notify: Notify | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.pipeline = pipeline
        self.notify = notify

    def process(self, inbound_id: str) -> None:
        """Process one receipt if it is still ``queued``; raise to have dramatiq retry it with backoff."""
        with structlog.contextvars.bound_contextvars(inbound_id=inbound_id):
            # The receipt, its raw bytes and the pipeline's lookups on one connection (the pipeline writes nothing).
            with self.store.reading():
                found = self.store.receipts.get_inbound_with_raw(inbound_id)
                if found is None:
                    log.warning("inbound not found; dropping queue message")
                    return
                inbound, raw = found
                if inbound.status != "queued":
                    log.info("inbound already processed", status=inbound.status)
                    return
                try:
                    outcome = self.pipeline(
                        inbound, raw if raw is not None else self.store.content.get_blob(inbound.sha256)
                    )
                except Exception as exc:
                    self._failed(inbound, exc)
                    return
            try:
                if outcome.status == "failed":
                    # Nothing a retry can change (no submitter): failed now, reprocessable after an import.
                    self._fail_now(inbound, outcome.reason or "failed", outcome.summary, outcome.plan)
                    return
                # Durable before this receipt moves on, so a crash between the two loses none of them.
                also = self._also_attached(inbound, outcome.plan)
                changed = self._record(inbound, outcome)
            except Exception as exc:
                self._failed(inbound, exc)
                return
            if not changed:
                log.info("inbound already processed by another worker")
                return
            attempts = inbound.attempts + 1
            log.info("inbound " + outcome.status, reason=outcome.reason, attempts=attempts, **outcome.summary)
        for other in also:
            # Filed now, one after the other; one that fails stays queued for the sweeper, not for this receipt.
            with contextlib.suppress(dramatiq.Retry):
                self.process(other)

    def _record(self, inbound: InboundView, outcome: Outcome) -> bool:
        """File the outcome (or record its status) and its webhook deliveries; ``False`` when another worker
        already had."""
        outbox = self._outbox(inbound, outcome)
        if outcome.write is not None:
            return self.store.filing.apply_plan(inbound.id, outcome.write, outbox=outbox).applied
        return self.store.receipts.mark_processed(inbound.id, outcome.status, reason=outcome.reason, outbox=outbox)

    def _also_attached(self, inbound: InboundView, plan: LinkPlan | None) -> list[str]:
        """A receipt for each message forwarded beside the original (``LinkPlan.also_attached``), for the same
        submitter: one it already has for those bytes, else a new one (source ``attached:<this receipt>``). Such a
        receipt's own attachments make none: one level, so one mail makes at most ``MAX_ALSO_ATTACHED``."""
        if plan is None or not plan.also_attached or plan.submitter is None or inbound.source.startswith(ATTACHED):
            return []
        trust = Trust(plan.submitter, ATTACHED.rstrip(":"), {"detail": f"forwarded with receipt {inbound.id}"})
        envelope: ReceiptEnvelope = {
            "mail_from": inbound.mail_from,
            "rcpt_tos": inbound.rcpt_tos,
            "trust": trust,
            "source": ATTACHED + inbound.id,
        }
        ids = []
        for raw in plan.also_attached:
            copy = self.store.receipts.find_inbound_copy(hashlib.sha256(raw).hexdigest(), plan.submitter)
            if copy is None:
                copy = self.store.receipts.add_inbound(raw, **envelope)
            ids.append(copy.id)
        return ids

    def process_now(self, inbound_id: str) -> None:
        """``process`` outside a worker (``mailassist reprocess``): a transient failure is recorded, not retried."""
        with contextlib.suppress(dramatiq.Retry):
            self.process(inbound_id)

    def _outbox(self, inbound: InboundView, outcome: Outcome) -> Outbox | None:
        """The webhook deliveries for ``outcome``, for the store to write in the transaction that records it."""
        notify = self.notify
        if notify is None:
            return None
        return lambda result: notify(inbound, outcome, result)

    def _failed(self, inbound: InboundView, exc: Exception) -> None:
        if isinstance(exc, LinkerError):  # the message itself is at fault: no retry can help
            self._fail_now(inbound, f"{type(exc).__name__}: {exc}", {})
        else:
            self._record_failure(inbound, exc)

    def _fail_now(
        self, inbound: InboundView, error: str, summary: dict[str, object], plan: LinkPlan | None = None
    ) -> None:
        outbox = self._outbox(inbound, Outcome("failed", error, plan=plan))
        if self.store.receipts.mark_attempt_failed(inbound.id, error, max_attempts=1, outbox=outbox) == "failed":
            log.error("inbound failed", error=error, attempts=inbound.attempts + 1, **summary)

    def _record_failure(self, inbound: InboundView, exc: Exception) -> None:
        error = "".join(traceback.format_exception_only(exc)).strip()
        outbox = self._outbox(inbound, Outcome("failed", error))
        status = self.store.receipts.mark_attempt_failed(
            inbound.id, error, max_attempts=self.settings.max_attempts, outbox=outbox
        )
        if status == "queued":
            log.warning("inbound attempt failed; will retry", attempt=inbound.attempts + 1, error=error)
            # Retry (not the original exception): dramatiq backs off without logging a second traceback.
            raise dramatiq.Retry(error) from exc
        if status == "failed":
            log.error("inbound failed", attempts=inbound.attempts + 1, error=error, exc_info=exc)


class InboundLogContext(dramatiq.Middleware):
    """Binds ``inbound_id`` while a message is processed, so dramatiq's own log lines carry it too."""

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if message.actor_name == ACTOR_NAME and message.args:
            structlog.contextvars.bind_contextvars(inbound_id=message.args[0])

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        structlog.contextvars.unbind_contextvars("inbound_id")

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.unbind_contextvars("inbound_id")


def build_actor(
    broker: dramatiq.Broker, processor: Processor, run: Callable[[str], None] | None = None
) -> dramatiq.Actor[[str], None]:
    """Declare ``link_inbound`` on ``broker`` (no import-time global broker): it runs ``processor.process``, or
    ``run`` (which hands the message to ``processor.process`` elsewhere, another process)."""
    # First in the list: its "before" hook runs first and its "after" hook last, around every other log line.
    first = type(broker.middleware[0]) if broker.middleware else None
    broker.add_middleware(InboundLogContext(), before=first)
    s = processor.settings
    declare = dramatiq.actor(
        broker=broker,
        actor_name=ACTOR_NAME,
        queue_name=QUEUE_NAME,
        # Our own attempt count in the database decides when a receipt is ``failed``; dramatiq's limit is a
        # backstop, and the sweeper re-sends anything dramatiq gave up on.
        max_retries=s.max_attempts,
        min_backoff=int(s.min_backoff * 1000),
        max_backoff=int(s.max_backoff * 1000),
        time_limit=int(s.time_limit * 1000),
    )
    actor: dramatiq.Actor[[str], None] = declare(run or processor.process)
    return actor
