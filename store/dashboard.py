"""Dashboard numbers: what came in and what it became, over the last 24 hours and 7 days, in four queries; and the
dashboard's panels (``dashboard_panels``): mail per day by kind and by outcome, SMTP refusals per reason, the top
unresolved codes, the newest leads and the ingest queue's health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any

from sqlalchemy import ColumnElement, case, distinct, exists, func, select, type_coerce
from sqlalchemy.orm import Session

from store.days import day_spans
from store.models import Inbound, Lead, Message, MessageCode, SmtpRejection, UTCDateTime
from store.page_shapes import KINDS, Dashboard, UnresolvedCode, Viewer
from store.shapes import STATUSES
from store.visibility import lead_visible, visible_few

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
    messages = _by(session, Message.kind, Message.created_at, now, KINDS, visible_few(viewer))
    week, in_day = _window(Lead.created_at, now)
    leads_day, leads_week = session.execute(select(in_day, func.count()).where(week, lead_visible(viewer))).one()
    unresolved = session.scalar(select(func.count(distinct(MessageCode.code))).where(*_unresolved_seen(viewer)))
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
    return _unresolved(session, viewer, limit, most_first=False)


def _unresolved_seen(viewer: Viewer) -> list[ColumnElement[bool]]:
    """The conditions on ``message_codes`` for an unresolved code in a message ``viewer`` may see. Unresolved codes
    are few: each one's message is checked (``visible_few``), so the query starts from the codes, not from the
    viewer's mail."""
    seen = select(Message.id).where(Message.id == MessageCode.message_id, visible_few(viewer))
    return [MessageCode.record_id.is_(None), exists(seen)]


def _unresolved(session: Session, viewer: Viewer, limit: int, *, most_first: bool) -> list[UnresolvedCode]:
    """The unresolved codes in the viewer's mail, by their latest message or (``most_first``) by their message
    count, then by code: the one query behind the codes page and the dashboard's top codes."""
    sent = select(func.coalesce(Message.date, Message.created_at)).where(Message.id == MessageCode.message_id)
    latest = type_coerce(func.max(sent.scalar_subquery()), UTCDateTime)
    n = func.count()
    stmt = (
        select(MessageCode.code, n, latest)
        .where(*_unresolved_seen(viewer))
        .group_by(MessageCode.code)
        .order_by((n if most_first else latest).desc(), MessageCode.code)
        .limit(limit)
    )
    return [UnresolvedCode(code, int(count), when) for code, count, when in session.execute(stmt)]


# --- the dashboard's panels: mail per day, refusals, top codes, newest leads, queue health ------------------------

#: Days the per-day chart covers, today included.
CHART_DAYS = 14
#: Unresolved codes and newest leads the dashboard lists.
TOP = 10
#: A ``queued`` receipt untouched this long means no sweeper is re-sending it (it touches every row it re-sends).
STALE_QUEUED = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class QueueHealth:
    """The ingest queue now: how much waits, since when, and whether the sweeper keeps it moving."""

    queued: int
    oldest_queued: datetime | None
    #: ``queued`` receipts untouched for ``STALE_QUEUED``: none while a sweeper runs.
    stale: int
    failed_24h: int


@dataclass(frozen=True, slots=True)
class NewLead:
    id: int
    label: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DashboardPanels:
    """What the dashboard shows beside its counts. Per-day series are aligned with ``days`` (oldest first). Receipt
    outcomes, refusals and queue health are for role ``all`` only (else ``None``); the rest is the viewer's mail."""

    #: Days of the zone ``dashboard_panels`` was given (the viewer's), oldest first, today last.
    days: tuple[date, ...]
    filed_by_kind: dict[str, tuple[int, ...]]
    outcomes: dict[str, tuple[int, ...]] | None
    #: SMTP refusals over the last 7 days: (reason, reply code, count), most first.
    refusals: tuple[tuple[str, str, int], ...] | None
    top_codes: tuple[UnresolvedCode, ...]
    newest_leads: tuple[NewLead, ...]
    queue: QueueHealth | None


def _per_day(
    session: Session, key: Any, at: Any, days: tuple[date, ...], keys: tuple[str, ...], *where: Any, zone: tzinfo
) -> dict[str, tuple[int, ...]]:
    """Per value of ``key``: a count per day of ``days``, days of ``zone`` (an instant counts on its date there)."""
    spans = day_spans(days, zone)
    series = {k: [0] * len(days) for k in keys}
    # Each instant's day is the span it falls in: a CASE over the spans' UTC bounds, the same on every backend and
    # right on days of 23 or 25 hours (an offset added in SQL is not), and the range on ``at`` keeps to its index.
    day = case(*((at < end, i) for (_, i), (end, _) in pairwise(spans)), else_=-1).label("local_day")
    # Grouped by day first: grouped by ``key`` first, SQLite walks the receipts' (status, updated_at) index over
    # every receipt instead of the date's index over the last days. By its label, so the CASE is sent only once.
    stmt = select(day, key, func.count()).where(at >= spans[0][0], at < spans[-1][0], *where).group_by("local_day", key)
    for i, value, n in session.execute(stmt):
        if i >= 0 and value in series:
            series[value][i] += int(n)
    return {k: tuple(v) for k, v in series.items()}


def _queue(session: Session, now: datetime) -> QueueHealth:
    oldest = type_coerce(func.min(Inbound.received_at), UTCDateTime)
    queued, oldest_at = session.execute(select(func.count(), oldest).where(Inbound.status == "queued")).one()
    stale = session.scalar(
        select(func.count()).where(Inbound.status == "queued", Inbound.updated_at < now - STALE_QUEUED)
    )
    failed = session.scalar(select(func.count()).where(Inbound.status == "failed", Inbound.updated_at > now - DAY))
    return QueueHealth(int(queued), oldest_at, int(stale or 0), int(failed or 0))


def dashboard_panels(session: Session, viewer: Viewer, now: datetime, zone: tzinfo = UTC) -> DashboardPanels:
    """The dashboard's chart and lists for ``viewer`` at ``now``, the chart's days being days in ``zone`` (see
    ``DashboardPanels``)."""
    today = now.astimezone(zone).date()
    days = tuple(today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1))
    filed = _per_day(session, Message.kind, Message.created_at, days, KINDS, visible_few(viewer), zone=zone)
    admin = viewer.role == "all"
    outcomes = _per_day(session, Inbound.status, Inbound.received_at, days, STATUSES, zone=zone) if admin else None
    refusals = None
    if admin:
        # Refusals are counted per UTC day (``SmtpRejection``): the last 7 of those.
        since = now.astimezone(UTC).date() - timedelta(days=6)
        total = func.sum(SmtpRejection.count)
        rows = session.execute(
            select(SmtpRejection.reason, SmtpRejection.code, total)
            .where(SmtpRejection.day >= since)
            .group_by(SmtpRejection.reason, SmtpRejection.code)
            .order_by(total.desc(), SmtpRejection.reason)
        )
        refusals = tuple((reason, code, int(n)) for reason, code, n in rows)
    leads = session.execute(
        select(Lead.id, func.coalesce(Lead.name, Lead.address), Lead.created_at)
        .where(lead_visible(viewer))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(TOP)
    )
    return DashboardPanels(
        days=days,
        filed_by_kind=filed,
        outcomes=outcomes,
        refusals=refusals,
        top_codes=tuple(_unresolved(session, viewer, TOP, most_first=True)),
        newest_leads=tuple(NewLead(i, label, at) for i, label, at in leads),
        queue=_queue(session, now) if admin else None,
    )
