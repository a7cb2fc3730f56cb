"""Counters for ``/metrics``, read from the database so that every process (smtp, worker, web) agrees.

Accepted, linked, ignored and failed mail are inbound rows; refused mail leaves no row, so the gateway counts its
refusals in ``smtp_rejections`` (per UTC day and reply code) through a ``RejectionTally``.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy import exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from store.database import Database
from store.models import Inbound, Message, SmtpRejection
from store.shapes import STATUSES

T = TypeVar("T")

log = structlog.get_logger("store")

#: The longest reply code kept: ``550 5.1.1`` and its like fit (``smtp_rejections.code`` is 16 characters).
MAX_CODE = 16
_REPLY = re.compile(r"([2-5]\d\d)(?:[ -]([245]\.\d{1,3}\.\d{1,3})\b)?")


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """What ``/metrics`` shows, read in one transaction."""

    #: Inbound receipts per status, every status present (zero included).
    inbound: dict[str, int]
    #: SMTP refusals ever recorded, per reply code such as ``550 5.1.1``.
    rejections: dict[str, int]
    #: The same, per reply code and reason (``("550 5.7.1", "dkim_not_aligned")``); older rows have reason ``""``.
    rejections_by_reason: dict[tuple[str, str], int]
    #: When the oldest ``queued`` receipt arrived; ``None`` when none is queued.
    oldest_queued_at: datetime | None
    #: Emails filed under a Message-ID an earlier, different email has (a reused Message-ID, kept apart).
    message_id_collisions: int = 0


def rejection_code(reply: str) -> str:
    """The reply code and enhanced status of an SMTP reply (``550 5.1.1``), or ``other`` for no such reply."""
    match = _REPLY.match(reply.strip())
    if match is None:
        return "other"
    code, enhanced = match.groups()
    return f"{code} {enhanced}"[:MAX_CODE] if enhanced else code


#: A key of the refusal counts: a reply code such as ``550 5.1.1``, or ``(code, reason)``.
RejectionKey = str | tuple[str, str]

#: The longest reason kept (``smtp_rejections.reason`` is 32 characters).
MAX_REASON = 32


def _split_key(key: RejectionKey) -> tuple[str, str]:
    code, reason = (key, "") if isinstance(key, str) else key
    return code[:MAX_CODE], reason[:MAX_REASON]


def add_rejections(session: Session, counts: Mapping[RejectionKey, int], day: date) -> None:
    """Add ``counts`` (reply code, or code and reason → refusals) to ``day``'s rows, creating them as needed: one
    upsert."""
    totals: Counter[tuple[str, str]] = Counter()
    for key, n in counts.items():
        if n > 0:
            totals[_split_key(key)] += n
    rows = [{"day": day, "code": code, "reason": reason, "count": n} for (code, reason), n in totals.items()]
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(SmtpRejection).values(rows)
    table = SmtpRejection.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c["day"], table.c["code"], table.c["reason"]],
        set_={"count": table.c["count"] + stmt.excluded["count"]},
    )
    session.execute(stmt)


def metrics_snapshot(session: Session) -> MetricsSnapshot:
    """Inbound counts by status, refusals by code and the oldest queued arrival: three aggregate queries."""
    inbound = dict.fromkeys(STATUSES, 0)
    inbound.update(
        {status: int(n) for status, n in session.execute(select(Inbound.status, func.count()).group_by(Inbound.status))}
    )
    by_reason = {
        (code, reason): int(n)
        for code, reason, n in session.execute(
            select(SmtpRejection.code, SmtpRejection.reason, func.sum(SmtpRejection.count)).group_by(
                SmtpRejection.code, SmtpRejection.reason
            )
        )
    }
    rejections: Counter[str] = Counter()
    for (code, _reason), n in by_reason.items():
        rejections[code] += n
    oldest = session.scalar(select(func.min(Inbound.received_at)).where(Inbound.status == "queued"))
    return MetricsSnapshot(
        inbound=inbound,
        rejections=dict(rejections),
        rejections_by_reason=by_reason,
        oldest_queued_at=oldest,
        message_id_collisions=session.scalar(_COLLISIONS) or 0,
    )


_EARLIER = aliased(Message)
#: Emails with a Message-ID that an earlier email (a lower id) has too; ``messages.message_id_header`` is indexed.
_COLLISIONS = (
    select(func.count())
    .select_from(Message)
    .where(
        Message.message_id_header.is_not(None),
        exists().where(_EARLIER.message_id_header == Message.message_id_header, _EARLIER.id < Message.id),
    )
)


class Metrics:
    """The counters behind ``/metrics``."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add_rejections(self, counts: Mapping[RejectionKey, int], *, day: date | None = None) -> None:
        """Count SMTP refusals (reply code, or code and reason → how many) for ``day`` (default: today, UTC)."""
        when = day if day is not None else datetime.now(UTC).date()
        self._db.run(lambda session: add_rejections(session, counts, when))

    def metrics_snapshot(self) -> MetricsSnapshot:
        """The counts ``/metrics`` exposes."""
        return self._db.run(metrics_snapshot)


class RejectionTally:
    """Counts SMTP refusals in memory and hands them to ``write`` in batches, one batch at a time, via ``submit``.

    ``add`` is cheap, never blocks and never raises, so it may run on the gateway's event loop: a flood of
    refusals costs one write per batch rather than one per refusal, and a database that is down loses counts (with
    a warning), never an SMTP reply. ``write=None`` counts nothing (an intake without ``add_rejections``).
    """

    def __init__(
        self,
        write: Callable[[Mapping[RejectionKey, int]], None] | None,
        submit: Callable[[Callable[[], None]], Any],
    ) -> None:
        self._write = write
        self._submit = submit
        self._lock = threading.Lock()
        self._pending: Counter[RejectionKey] = Counter()
        self._busy = False

    def add(self, reply: str, reason: str = "policy") -> None:
        """Count one refusal by its SMTP reply, e.g. ``550 5.1.1 <x@y>: Recipient address rejected``, and a short
        reason such as ``unknown_recipient``."""
        if self._write is None:
            return
        try:
            with self._lock:
                self._pending[rejection_code(reply), reason] += 1
                if self._busy:
                    return
                self._busy = True
            self._submit(self._drain)
        except Exception as exc:
            # The executor is shutting down, or out of threads: the next refusal tries again.
            with self._lock:
                self._busy = False
            log.warning("smtp rejection not counted", error=f"{type(exc).__name__}: {exc}")

    def _drain(self) -> None:
        """Write pending counts until none are left; runs on the executor."""
        assert self._write is not None
        while True:
            with self._lock:
                batch, self._pending = self._pending, Counter()
                if not batch:
                    self._busy = False
                    return
            try:
                self._write(batch)
            except Exception as exc:
                log.warning("smtp rejections lost", counts=dict(batch), error=f"{type(exc).__name__}: {exc}")
