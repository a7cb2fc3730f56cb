"""The webhook outbox: one row per delivery of an event to an endpoint, written in the same transaction as the
outcome it reports, then sent (at least once) by a delivery thread that leases each row while it sends it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Index, Integer, String, Text, and_, func, insert, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.database import Database
from store.models import Base, UTCDateTime, utcnow
from store.rows import from_row

T = TypeVar("T")

#: A delivery's states: waiting (or between attempts, or leased by a sender), delivered, given up.
DELIVERY_STATUSES = ("pending", "sent", "failed")
#: ``last_error`` is cut to this many characters.
MAX_DELIVERY_ERROR = 1000


class WebhookDelivery(Base):
    """One event for one endpoint. ``lease_until`` set and in the future: a sender holds it; past: it was left
    behind (a killed worker) and is due again."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The ``webhook-id`` header: the same for every attempt, so receivers can drop a repeat.
    event_id: Mapped[str] = mapped_column(String(64))
    #: The ``[[webhooks]] name`` it is for, and its URL when the event happened.
    endpoint: Mapped[str] = mapped_column(String(100), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event: Mapped[str] = mapped_column(String(40))
    inbound_id: Mapped[str | None] = mapped_column(String(32))
    #: The JSON body, exactly as signed and sent.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The HTTP status of the last answer, ``None`` when there was none (timeout, refused).
    last_status: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),)


@dataclass(frozen=True, slots=True)
class DeliveryWrite:
    """A delivery to queue with an outcome."""

    event_id: str
    endpoint: str
    url: str
    event: str
    payload: str
    inbound_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    event_id: str
    endpoint: str
    url: str
    event: str
    inbound_id: str | None
    payload: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    lease_until: datetime | None
    last_error: str | None
    last_status: int | None
    sent_at: datetime | None


#: Given what the outcome's transaction did (``ApplyResult``, or ``None`` for a status change only), the deliveries
#: to write in that same transaction.
Outbox = Callable[[Any], Sequence[DeliveryWrite]]


def add_deliveries(session: Session, deliveries: Sequence[DeliveryWrite]) -> None:
    """Insert ``deliveries`` as ``pending``, due now, inside the caller's transaction."""
    if not deliveries:
        return
    now = utcnow()
    rows = [
        {
            "event_id": d.event_id,
            "endpoint": d.endpoint,
            "url": d.url,
            "event": d.event,
            "inbound_id": d.inbound_id,
            "payload": d.payload,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for d in deliveries
    ]
    session.connection().execute(insert(WebhookDelivery), rows)


def _view(row: WebhookDelivery) -> DeliveryView:
    return from_row(DeliveryView, row)


def _due(now: datetime) -> Any:
    return and_(
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
    )


class Webhooks:
    """The outbox's verbs: deliveries claimed, marked, retried and listed."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def claim_deliveries(self, endpoint: str, *, limit: int, lease: float) -> list[DeliveryView]:
        """Lease up to ``limit`` due deliveries of ``endpoint`` for ``lease`` seconds and count the attempt; each
        row is taken by a conditional update, so two senders never hold the same one."""
        now = utcnow()

        def claim(session: Session) -> list[DeliveryView]:
            ids = session.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.endpoint == endpoint, _due(now))
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            ).all()
            taken = []
            for delivery_id in ids:
                result = session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery_id, _due(now))
                    .values(lease_until=now + timedelta(seconds=lease), attempts=WebhookDelivery.attempts + 1)
                )
                if int(getattr(result, "rowcount", 0)) == 1:
                    taken.append(delivery_id)
            rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(taken))).all()
            return sorted((_view(r) for r in rows), key=lambda v: (v.next_attempt_at, v.id))

        result: list[DeliveryView] = self._db.run(claim)
        return result

    def mark_delivery_sent(self, delivery_id: int, *, http_status: int) -> None:
        """Record a delivery the receiver accepted."""
        now = utcnow()
        stmt = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
            .values(status="sent", sent_at=now, lease_until=None, last_status=http_status, last_error=None)
        )
        self._db.run(lambda s: s.execute(stmt))

    def mark_delivery_attempt_failed(
        self, delivery_id: int, error: str, *, http_status: int | None, retry_at: datetime | None
    ) -> str | None:
        """Record a failed attempt: due again at ``retry_at``, or ``failed`` for good when it is ``None``. Returns
        the new status (``None``: the row was no longer pending)."""
        status = "pending" if retry_at is not None else "failed"
        values: dict[str, Any] = {
            "status": status,
            "lease_until": None,
            "last_error": error[:MAX_DELIVERY_ERROR],
            "last_status": http_status,
        }
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        stmt = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
            .values(**values)
        )
        changed: bool = self._db.run(lambda s: int(getattr(s.execute(stmt), "rowcount", 0)) == 1)
        return status if changed else None

    def retry_delivery(self, delivery_id: int) -> bool:
        """Make a ``failed`` (or waiting) delivery due now with a fresh attempt count (``mailassist webhooks
        retry``); False when there is no such delivery or it was sent."""
        stmt = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status.in_(("failed", "pending")))
            .values(status="pending", attempts=0, next_attempt_at=utcnow(), lease_until=None)
        )
        changed: bool = self._db.run(lambda s: int(getattr(s.execute(stmt), "rowcount", 0)) == 1)
        return changed

    def get_delivery(self, delivery_id: int) -> DeliveryView | None:
        """One delivery, or ``None``."""

        def get(session: Session) -> DeliveryView | None:
            row = session.get(WebhookDelivery, delivery_id)
            return _view(row) if row is not None else None

        found: DeliveryView | None = self._db.run(get)
        return found

    def list_deliveries(
        self, *, status: str | None = None, endpoint: str | None = None, limit: int = 100
    ) -> list[DeliveryView]:
        """Deliveries, newest first."""
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        if endpoint is not None:
            stmt = stmt.where(WebhookDelivery.endpoint == endpoint)
        rows: list[DeliveryView] = self._db.run(lambda s: [_view(r) for r in s.scalars(stmt)])
        return rows

    def count_deliveries(self) -> dict[tuple[str, str], int]:
        """(endpoint, status) → how many deliveries."""
        stmt = select(WebhookDelivery.endpoint, WebhookDelivery.status, func.count()).group_by(
            WebhookDelivery.endpoint, WebhookDelivery.status
        )
        counts: dict[tuple[str, str], int] = self._db.run(
            lambda s: {(endpoint, status): n for endpoint, status, n in s.execute(stmt)}
        )
        return counts
