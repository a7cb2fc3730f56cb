"""The message list: filters, visibility and search in one query, newest first, one keyset page at a time.

A page costs two queries whatever its size: the rows (with the submitter's name), then every link chip of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, null, or_, select, union
from sqlalchemy.orm import Session

from store.cursors import before, decode_cursor, encode_cursor
from store.errors import StoreError
from store.kept_models import TeamMail
from store.labels import chip_order, with_labels
from store.models import Contact, Inbound, Link, Message, MessageCode, Record, User
from store.page_shapes import LinkChip, MessageFilter, MessagePage, MessageRow, Viewer
from store.search import matches
from store.visibility import visible, visible_id

#: The most rows one page holds; a larger ``limit`` is cut to this.
MAX_PAGE = 500
#: Link types that file a message somewhere; ``user`` links (submitters) do not count.
FILED_TYPES = ("client", "contact", "lead", "record")


def sort_key() -> ColumnElement[datetime]:
    """What the list is sorted by: the Date header, else when the message was filed (as in ``ix_messages_sort``)."""
    return func.coalesce(Message.date, Message.created_at)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise StoreError(f"{what} must be timezone-aware")
    return value


def _linked_to(entity_type: str, entity_id: int | Select[Any]) -> Select[int]:
    """Ids of messages linked to that entity (or to any of a subquery's ids)."""
    ids = Link.entity_id.in_(entity_id) if isinstance(entity_id, Select) else Link.entity_id == entity_id
    return select(Link.message_id).where(Link.entity_type == entity_type, ids)


def conditions(dialect: str, f: MessageFilter) -> list[ColumnElement[bool]]:
    """The filter as conditions on ``messages`` (visibility is added separately)."""
    sort = sort_key()
    where: list[ColumnElement[bool]] = []
    if (search := matches(dialect, f.q)) is not None:
        where.append(search)
    if f.direction is not None:
        where.append(Message.direction == f.direction)
    if f.kind is not None:
        where.append(Message.kind == f.kind)
    if f.submitter_id is not None:
        submitted = or_(Message.submitter_user_id == f.submitter_id, Message.id.in_(_linked_to("user", f.submitter_id)))
        where.append(submitted)
    if f.date_from is not None:
        where.append(sort >= _aware(f.date_from, "date_from"))
    if f.date_to is not None:
        where.append(sort < _aware(f.date_to, "date_to"))
    if f.client_id is not None:
        client = union(
            _linked_to("client", f.client_id),
            _linked_to("contact", select(Contact.id).where(Contact.client_id == f.client_id)),
            _linked_to("record", select(Record.id).where(Record.client_id == f.client_id)),
        )
        where.append(Message.id.in_(client))
    for entity_type, entity_id in (("contact", f.contact_id), ("lead", f.lead_id), ("record", f.record_id)):
        if entity_id is not None:
            where.append(Message.id.in_(_linked_to(entity_type, entity_id)))
    if f.unmatched:
        where.append(~exists().where(Link.message_id == Message.id, Link.entity_type.in_(FILED_TYPES)))
    if f.code is not None:
        where.append(Message.id.in_(select(MessageCode.message_id).where(MessageCode.code == f.code)))
    return where


def link_chips(
    session: Session, message_ids: Sequence[int], viewer: Viewer | None = None
) -> dict[int, tuple[LinkChip, ...]]:
    """Every link of these messages (at most ``MAX_PAGE``), labelled, in one query; with ``viewer``, each thread
    link names the message it came from when ``viewer`` may see that one."""
    if not message_ids:
        return {}
    joined, label = with_labels(Link, Link.entity_type, Link.entity_id)
    source = visible_id(viewer, Link.from_message_id) if viewer is not None else null()
    stmt = (
        select(Link.message_id, Link.entity_type, Link.entity_id, Link.reason, label, source)
        .select_from(joined)
        .where(Link.message_id.in_(list(message_ids)))
    )
    chips: dict[int, list[LinkChip]] = {}
    for message_id, entity_type, entity_id, reason, name, came_from in session.execute(stmt):
        text = name if name is not None else f"{entity_type} #{entity_id}"
        chips.setdefault(message_id, []).append(LinkChip(entity_type, entity_id, text, reason, came_from))
    return {mid: tuple(sorted(found, key=lambda c: chip_order(c.type, c.label, c.id))) for mid, found in chips.items()}


def receipt_sources(session: Session, message_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Where the receipts of these messages came from (``smtp``, ``api``…), each source once, in one query."""
    if not message_ids:
        return {}
    stmt = select(Inbound.message_id, Inbound.source).where(Inbound.message_id.in_(list(message_ids))).distinct()
    found: dict[int, set[str]] = {}
    for message_id, source in session.execute(stmt):
        if message_id is not None:
            found.setdefault(message_id, set()).add(source)
    return {mid: tuple(sorted(values)) for mid, values in found.items()}


def list_messages(session: Session, viewer: Viewer, f: MessageFilter, after: str | None, limit: int) -> MessagePage:
    """One page of the messages ``viewer`` may see that match ``f``, newest first, after the cursor ``after``."""
    limit = max(1, min(limit, MAX_PAGE))
    sort = sort_key().label("sort")
    dialect = session.get_bind().dialect.name
    stmt = (
        select(
            Message.id,
            Message.subject,
            sort,
            Message.direction,
            Message.kind,
            User.name,
            Message.from_name,
            Message.from_address,
        )
        .outerjoin(User, User.id == Message.submitter_user_id)
        .where(*conditions(dialect, f))
    )
    order: tuple[Any, Any] = (sort_key(), Message.id)
    if viewer.role == "team" and viewer.team_id is not None:
        # The team's kept mail carries each message's sort key: its index gives the page newest first, where
        # listing the team's thousands of messages first would sort them all.
        kept = and_(TeamMail.message_id == Message.id, TeamMail.team_id == viewer.team_id)
        stmt, order = stmt.join(TeamMail, kept), (TeamMail.sent, TeamMail.message_id)
    else:
        stmt = stmt.where(visible(viewer))
    if after is not None:
        at, last_id = decode_cursor("m", after)
        stmt = stmt.where(before(*order, at, last_id))
    rows = session.execute(stmt.order_by(order[0].desc(), order[1].desc()).limit(limit + 1)).all()
    page = rows[:limit]
    more = len(rows) > limit
    return MessagePage(
        items=_message_rows(session, page), next=encode_cursor("m", page[-1].sort, page[-1].id) if more else None
    )


def _message_rows(session: Session, page: Sequence[Any]) -> tuple[MessageRow, ...]:
    """A page's rows as the list shows them, with their link chips and how each came in."""
    chips = link_chips(session, [row.id for row in page])
    sources = receipt_sources(session, [row.id for row in page])
    return tuple(
        MessageRow(
            id=row.id,
            subject=row.subject,
            date=row.sort,
            direction=row.direction,
            kind=row.kind,
            submitter=row.name,
            from_name=row.from_name,
            from_address=row.from_address,
            links=chips.get(row.id, ()),
            sources=sources.get(row.id, ()),
        )
        for row in page
    )
