"""Dashboard numbers: what came in and what it became, over the last 24 hours and 7 days, in four queries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, distinct, func, select, type_coerce
from sqlalchemy.orm import Session

from store.models import Inbound, Lead, Message, MessageCode, UTCDateTime
from store.page_shapes import KINDS, Dashboard, UnresolvedCode, Viewer
from store.shapes import STATUSES
from store.visibility import lead_visible, visible

DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


def _window(at: Any, now: datetime) -> tuple[ColumnElement[bool], ColumnElement[int]]:
    """The last-week condition on ``at``, and 1-or-0 for "within the last day" to sum."""
    return (at > now - WEEK) & (at <= now), func.sum(case((at > now - DAY, 1), else_=0))


def _by(
    session: Session, key: Any, at: Any, now: datetime, keys: tuple[str, ...], *where: Any
) -> tuple[dict[str, int], dict[str, int]]:
    """Counts per value of ``key`` over the last day and the last week (every one of ``keys`` present)."""
    week, in_day = _window(at, now)
    day_counts, week_counts = dict.fromkeys(keys, 0), dict.fromkeys(keys, 0)
    for value, day, total in session.execute(select(key, in_day, func.count()).where(week, *where).group_by(key)):
        day_counts[value], week_counts[value] = int(day or 0), int(total)
    return day_counts, week_counts


def dashboard_counts(session: Session, viewer: Viewer, now: datetime) -> Dashboard:
    """Inbound by status (role ``all`` only), visible messages by kind, new leads, unresolved codes; no failures."""
    inbound = _by(session, Inbound.status, Inbound.received_at, now, STATUSES) if viewer.role == "all" else None
    messages = _by(session, Message.kind, Message.created_at, now, KINDS, visible(viewer))
    week, in_day = _window(Lead.created_at, now)
    leads_day, leads_week = session.execute(select(in_day, func.count()).where(week, lead_visible(viewer))).one()
    unresolved = session.scalar(
        select(func.count(distinct(MessageCode.code)))
        .join(Message, Message.id == MessageCode.message_id)
        .where(MessageCode.record_id.is_(None), visible(viewer))
    )
    return Dashboard(
        inbound_24h=inbound[0] if inbound else None,
        inbound_7d=inbound[1] if inbound else None,
        messages_24h=messages[0],
        messages_7d=messages[1],
        leads_24h=int(leads_day or 0),
        leads_7d=int(leads_week),
        unresolved_codes=int(unresolved or 0),
        recent_failures=None,
    )


def list_unresolved_codes(session: Session, viewer: Viewer, limit: int) -> list[UnresolvedCode]:
    """The codes the dashboard counts as unresolved, each with its visible messages and the latest one's date
    (the Date header, else when it was filed), latest first; at most ``limit``."""
    latest = type_coerce(func.max(func.coalesce(Message.date, Message.created_at)), UTCDateTime)
    stmt = (
        select(MessageCode.code, func.count(), latest)
        .join(Message, Message.id == MessageCode.message_id)
        .where(MessageCode.record_id.is_(None), visible(viewer))
        .group_by(MessageCode.code)
        .order_by(latest.desc(), MessageCode.code)
        .limit(limit)
    )
    return [UnresolvedCode(code, int(count), when) for code, count, when in session.execute(stmt)]
