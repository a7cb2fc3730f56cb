"""Directory indexes: clients, contacts, leads, records and users, searched, sorted and paged by keyset, each with
the count and latest date of the mail linked to it that the viewer may see.

Counts are ``store.index_counts``'s: kept per entry for a viewer who sees all mail, else grouped from the links of
the messages the viewer may see, so mail the viewer may not see is never counted. Sorted by name, a page is read
first (by the name's index) and only its rows are counted; sorted by count or last contact, every entry matching
the search is counted, in the one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.orm import Session

from store.cursors import (
    BadCursorError,
    SortValue,
    before,
    decode_cursor,
    decode_sort_cursor,
    encode_cursor,
    encode_sort_cursor,
)
from store.errors import StoreError
from store.index_counts import kept_counts, live_counts
from store.index_kinds import KINDS, SORTS, AnySelect, IndexKind
from store.models import (
    ClientDomain,
    ClientEmail,
    ContactEmail,
    Lead,
    UserAddress,
    UTCDateTime,
)
from store.page_shapes import IndexPage, IndexRow, Viewer
from store.shapes import EntityRef
from store.visibility import lead_visible, visible_mail

#: The most rows one page holds.
MAX_INDEX_PAGE = 200
#: Characters of a search beyond this are not searched for.
MAX_INDEX_QUERY = 200
#: Addresses and domains shown per entry.
MAX_SHOWN_ADDRESSES = 5


def _counts(viewer: Viewer, index: str, ids: AnySelect | Sequence[int] | None) -> Any:
    """Per entity id (``key``): how many messages the viewer may see are linked to it (``n``) and the latest one's
    date (``last``): kept ones for role ``all`` and for a team (``team_counts``), else counted live over the
    viewer's few messages."""
    if viewer.role == "all":
        return kept_counts(index, ids).subquery()
    if viewer.role == "team" and viewer.team_id is not None:
        return kept_counts(index, ids, team_id=viewer.team_id).subquery()
    return live_counts(index, ids, visible_mail(viewer)).subquery()


def _after_name(name: Any, row_id: Any, value: SortValue, last_id: int) -> ColumnElement[bool]:
    if not isinstance(value, str):
        raise BadCursorError("bad cursor (not a name): start from the first page")
    return or_(name > value, and_(name == value, row_id > last_id))


def _after_count(n: Any, row_id: Any, value: SortValue, last_id: int) -> ColumnElement[bool]:
    if not isinstance(value, int):
        raise BadCursorError("bad cursor (not a count): start from the first page")
    return or_(n < value, and_(n == value, row_id > last_id))


def _after_last(last: Any, row_id: Any, value: SortValue, last_id: int) -> ColumnElement[bool]:
    if value is None:
        return and_(last.is_(None), row_id > last_id)
    if not isinstance(value, datetime):
        raise BadCursorError("bad cursor (not a date): start from the first page")
    when = literal(value, UTCDateTime())
    return or_(last < when, and_(last == when, row_id > last_id), last.is_(None))


def list_index(
    session: Session, viewer: Viewer, index: str, *, q: str | None, sort: str, after: str | None, limit: int
) -> IndexPage:
    """One page of the index ``index`` (``clients``, ``contacts``, ``leads``, ``records``, ``users``) matching
    ``q``, sorted by ``sort``, after the cursor ``after``; ``BadCursorError`` for a cursor it did not hand out."""
    if index not in KINDS or sort not in SORTS[index]:
        raise StoreError(f"no index {index!r} sorted by {sort!r}")
    limit = max(1, min(limit, MAX_INDEX_PAGE))
    kind = KINDS[index](viewer)
    where: list[ColumnElement[bool]] = []
    if index == "leads":
        where.append(lead_visible(viewer))
    q = (q or "").strip()[:MAX_INDEX_QUERY] or None
    if q is not None:
        where.append(kind.search(q))
    ask = _PageQuery(viewer, index, kind, where, sort, after, limit)
    page_of = _page_by_name if sort in ("name", "new") else _page_by_mail
    rows, found = page_of(session, ask)
    items = tuple(_rows(session, index, found))
    more = len(rows) > limit
    return IndexPage(items=items, next=_next(ask.cursor_kind, sort, items[-1]) if more and items else None)


_Found = list[tuple[Any, int, datetime | None]]


@dataclass(frozen=True, slots=True)
class _PageQuery:
    """One page asked of one index: what both ways of reading a page take."""

    viewer: Viewer
    index: str
    kind: IndexKind
    where: list[ColumnElement[bool]]
    sort: str
    after: str | None
    limit: int

    @property
    def cursor_kind(self) -> str:
        return f"{self.index}:{self.sort}"


def _page_by_name(session: Session, ask: _PageQuery) -> tuple[list[Any], _Found]:
    """A page by name (or, for leads, newest first) through the table's own order, then its entries' mail counted."""
    kind, table = ask.kind, ask.kind.table
    stmt = kind.joins(select(table.id.label("id"), kind.name.label("label"), *kind.columns())).where(*ask.where)
    if ask.sort == "name":
        if ask.after is not None:
            value, last_id = decode_sort_cursor(ask.cursor_kind, ask.after)
            stmt = stmt.where(_after_name(kind.name, table.id, value, last_id))
        stmt = stmt.order_by(kind.name, table.id)
    else:
        if ask.after is not None:
            at, last_id = decode_cursor(ask.cursor_kind, ask.after)
            stmt = stmt.where(before(Lead.created_at, Lead.id, at, last_id))
        stmt = stmt.order_by(Lead.created_at.desc(), Lead.id.desc())
    rows = list(session.execute(stmt.limit(ask.limit + 1)))
    page = rows[: ask.limit]
    ids = [r.id for r in page]
    counted = {key: (n, last) for key, n, last in session.execute(select(_counts(ask.viewer, ask.index, ids)))}
    return rows, [(row, *counted.get(row.id, (0, None))) for row in page]


def _page_by_mail(session: Session, ask: _PageQuery) -> tuple[list[Any], _Found]:
    """A page by linked-mail count or last contact: every matching entry's visible mail counted, in one query."""
    kind, table, sort = ask.kind, ask.kind.table, ask.sort
    # Every entry's counts, joined to the matching ones: limiting the counts to the search's ids as well made both
    # databases evaluate the search a second time, per counted entry.
    # With the dates in the same query: the visible ids are computed once, not again for the page's dates.
    counts = _counts(ask.viewer, ask.index, None)
    n = func.coalesce(counts.c.n, 0)
    last = counts.c.last
    stmt = kind.joins(
        select(table.id.label("id"), kind.name.label("label"), *kind.columns(), n.label("n"), last.label("last"))
    )
    stmt = stmt.outerjoin(counts, counts.c.key == table.id).where(*ask.where)
    if ask.after is not None:
        value, last_id = decode_sort_cursor(ask.cursor_kind, ask.after)
        pick = _after_count if sort == "count" else _after_last
        stmt = stmt.where(pick(n if sort == "count" else counts.c.last, table.id, value, last_id))
    if sort == "count":
        stmt = stmt.order_by(n.desc(), table.id)
    else:
        stmt = stmt.order_by(counts.c.last.is_(None), counts.c.last.desc(), table.id)
    rows = list(session.execute(stmt.limit(ask.limit + 1)))
    return rows, [(row, row.n, row.last) for row in rows[: ask.limit]]


def _next(cursor_kind: str, sort: str, row: IndexRow) -> str:
    if sort == "new":
        assert row.created_at is not None
        return encode_cursor(cursor_kind, row.created_at, row.id)
    values: dict[str, SortValue] = {"name": row.label, "count": row.messages, "last": row.last}
    value = values[sort]
    return encode_sort_cursor(cursor_kind, value, row.id)


def _addresses(session: Session, index: str, ids: list[int]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Addresses (and a client's domains) of these entries, sorted, each list cut to ``MAX_SHOWN_ADDRESSES``."""
    addresses: dict[int, list[str]] = {}
    domains: dict[int, list[str]] = {}
    if not ids:
        return addresses, domains
    queries: list[tuple[AnySelect, dict[int, list[str]]]] = []
    if index == "clients":
        queries.append(
            (select(ClientEmail.client_id, ClientEmail.address).where(ClientEmail.client_id.in_(ids)), addresses)
        )
        queries.append(
            (select(ClientDomain.client_id, ClientDomain.domain).where(ClientDomain.client_id.in_(ids)), domains)
        )
    elif index == "contacts":
        queries.append(
            (select(ContactEmail.contact_id, ContactEmail.address).where(ContactEmail.contact_id.in_(ids)), addresses)
        )
    elif index == "users":
        queries.append(
            (select(UserAddress.user_id, UserAddress.address).where(UserAddress.user_id.in_(ids)), addresses)
        )
    for stmt, into in queries:
        for key, value in session.execute(stmt.order_by(*stmt.selected_columns)):
            found = into.setdefault(key, [])
            if len(found) < MAX_SHOWN_ADDRESSES:
                found.append(value)
    return addresses, domains


def _rows(session: Session, index: str, found: list[tuple[Any, int, datetime | None]]) -> list[IndexRow]:
    addresses, domains = _addresses(session, index, [row.id for row, _, _ in found])
    rows = []
    for row, n, last in found:
        parent: EntityRef | None = None
        note: str | None = None
        tags: tuple[str, ...] = ()
        shown = tuple(addresses.get(row.id, ()))
        created_at = first = converted = None
        if index in ("contacts", "records"):
            cid, cname = row[2], row[3]
            parent = EntityRef(cid, cname) if cid is not None else None
        if index == "records":
            note, tags = row.title, (row.type,)
        elif index == "leads":
            oid, oname, address, company, created_at, first, contact_id, contact_name = row[2:10]
            converted = EntityRef(contact_id, contact_name) if contact_id is not None else None
            parent = EntityRef(oid, oname) if oid is not None else None
            note, shown = company, (address,)
        elif index == "users":
            email, role, team = row[2:5]
            note, tags = email, (role, *((team,) if team else ()))
        rows.append(
            IndexRow(
                id=row.id,
                label=row.label,
                addresses=shown,
                domains=tuple(domains.get(row.id, ())),
                note=note,
                parent=parent,
                tags=tags,
                messages=int(n or 0),
                last=last,
                created_at=created_at,
                first_message_id=first,
                converted=converted,
            )
        )
    return rows
