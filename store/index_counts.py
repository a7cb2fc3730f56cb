"""The mail counted per directory entry: how many messages are linked to it and the latest one's date.

Kept, or counted live. For a viewer who sees every message (role ``all``) they are read from ``index_counts``, a
row per entry with mail, which the store keeps as links come and go: counting them live means grouping every link
of the store on each index page (a client's mail is the union of its own, its contacts' and its records' links,
which has to be de-duplicated), hundreds of milliseconds at 100k messages. A team's are kept the same way in
``team_counts``, over the mail the team sees (``team_mail``, ``store.team_mail``). An ``own`` viewer's are counted
live from the links of the few messages it may see.

Keeping the rows: filing and relinking only add links, so they add what a message newly brings to each entry
(``count_added``: the message's entries before and after, +1 for each new one, under a lock on the message rows on
PostgreSQL so that two receipts of one email count it once); for a team, every entry of a message the team newly
sees. Removing mail or links (refile, forced directory deletes) and moving a contact or record to another client
recount the entries concerned from the links, for everyone and each team (``recount``). A team whose members or
their addresses change has its counts rebuilt with its mail (``rebuild_team_counts``). ``rebuild_index_counts``
recounts everything, for a bulk load.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    union,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.bulk import chunks
from store.kept_models import IndexCount, TeamCount, TeamMail
from store.models import Contact, Link, Message, Record
from store.visibility import SENT

_Select = Select[*tuple[Any, ...]]
#: An entry whose mail is counted: (index name, entity id).
Key = tuple[str, int]
#: Per message, the teams that may see it (``store.team_mail``).
Teams = dict[int, set[int]]
#: The indexes counted, and the link type that files a message under each directly.
INDEXES = {"clients": "client", "contacts": "contact", "leads": "lead", "records": "record", "users": "user"}


def pairs(index: str, ids: _Select | Sequence[int] | None, visible_ids: _Select | None = None) -> Any:
    """(``key`` entity id, ``message_id``) for every message linked to an entry of this index, among ``ids`` when
    given, among ``visible_ids`` messages when given; each pair once.

    A client's mail is its own, its contacts' and its records' (as its timeline, ``MessageFilter.client_id``); a
    user's, what it submitted (as the ``submitter`` filter)."""

    def among(column: Any) -> list[Any]:
        return [] if ids is None else [column.in_(ids if isinstance(ids, Select) else list(ids))]

    seen = [] if visible_ids is None else [Link.message_id.in_(visible_ids)]

    def linked(entity_type: str) -> _Select:
        return select(Link.entity_id.label("key"), Link.message_id.label("message_id")).where(
            Link.entity_type == entity_type, *among(Link.entity_id), *seen
        )

    if index == "clients":
        return union(
            linked("client"),
            select(Contact.client_id, Link.message_id)
            .join(Contact, and_(Link.entity_type == "contact", Contact.id == Link.entity_id))
            .where(Contact.client_id.is_not(None), *among(Contact.client_id), *seen),
            select(Record.client_id, Link.message_id)
            .join(Record, and_(Link.entity_type == "record", Record.id == Link.entity_id))
            .where(Record.client_id.is_not(None), *among(Record.client_id), *seen),
        ).subquery()
    if index == "users":
        submitted = select(Message.submitter_user_id, Message.id).where(
            Message.submitter_user_id.is_not(None),
            *among(Message.submitter_user_id),
            *([] if visible_ids is None else [Message.id.in_(visible_ids)]),
        )
        return union(linked("user"), submitted).subquery()
    return linked(INDEXES[index]).subquery()


def live_counts(index: str, ids: _Select | Sequence[int] | None, visible: Any = None) -> _Select:
    """Per entity id (``key``): how many of the messages (of ``visible``, else all) are linked to it (``n``)
    and the latest one's date (``last``): counted from the links now.

    ``visible`` is a CTE of a viewer's messages with their dates (``id``, ``sent``: ``visibility.visible_mail``):
    the dates are read from it, not from a join with every message (which PostgreSQL planned as a scan of them
    all)."""
    if visible is None:
        found: Any = pairs(index, ids, None)
        return (
            select(found.c.key, func.count().label("n"), func.max(SENT).label("last"))
            .join(Message, Message.id == found.c.message_id)
            .group_by(found.c.key)
        )
    found = pairs(index, ids, select(visible.c.id))
    return (
        select(found.c.key, func.count().label("n"), func.max(visible.c.sent).label("last"))
        .join(visible, visible.c.id == found.c.message_id)
        .group_by(found.c.key)
    )


def kept_counts(index: str, ids: _Select | Sequence[int] | None = None, *, team_id: int | None = None) -> _Select:
    """The same columns (``key``, ``n``, ``last``) as ``live_counts`` for every message, from ``index_counts``; for
    the mail of the team ``team_id``, from ``team_counts``."""
    model: type[IndexCount] | type[TeamCount] = IndexCount if team_id is None else TeamCount
    stmt = select(model.entity_id.label("key"), model.messages.label("n"), model.last_at.label("last")).where(
        model.index_name == index, *([] if team_id is None else [TeamCount.team_id == team_id])
    )
    if ids is not None:
        stmt = stmt.where(model.entity_id.in_(ids if isinstance(ids, Select) else list(ids)))
    return stmt


# --- keeping the rows --------------------------------------------------------------------------------------------


# Filing keeps the counts for every message it files (a read or two and an upsert), so these statements are built once:
# built per call, SQLAlchemy's construction and cache-key work cost several times what SQLite takes to run them.
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
#: Per message: its submitter, when it counts as sent, and each of its links with a linked contact's or record's
#: client (a message with no link: one row, the link columns null).
_ENTRIES = (
    select(Message.id, Message.submitter_user_id, SENT, Link.entity_type, Link.entity_id, Contact.client_id)
    .add_columns(Record.client_id)
    .outerjoin(Link, Link.message_id == Message.id)
    .outerjoin(Contact, and_(Link.entity_type == "contact", Contact.id == Link.entity_id))
    .outerjoin(Record, and_(Link.entity_type == "record", Record.id == Link.entity_id))
    .where(Message.id.in_(_IDS))
)
_LOCK = select(Message.id).where(Message.id.in_(_IDS)).order_by(Message.id).with_for_update()


def _upsert(dialect: str, model: type[IndexCount] | type[TeamCount]) -> Any:
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = build(model)
    table = model.__table__.c
    later = (stmt.excluded.last_at > table.last_at) | table.last_at.is_(None)
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in model.__table__.primary_key],
        set_={
            "messages": table.messages + stmt.excluded.messages,
            "last_at": case((later, stmt.excluded.last_at), else_=table.last_at),
        },
    )


#: Per dialect and table: add (entry, messages, latest date) to an entry's row, or create it.
_UPSERT = {(d, m): _upsert(d, m) for d in ("sqlite", "postgresql") for m in (IndexCount, TeamCount)}


@dataclass(frozen=True, slots=True)
class Entries:
    """What ``message_entries`` read: per message, the entries its mail counts under, and when it counts as sent."""

    keys: dict[int, set[Key]]
    sent: dict[int, datetime]


def message_entries(session: Session, message_ids: Iterable[int], *, lock: bool = False) -> Entries:
    """Per message: the entries its mail counts under now, and its date. ``lock``: hold its row until the
    transaction ends (PostgreSQL), so that a concurrent filing of the same email reads the entries after this one's."""
    conn = session.connection()
    lock = lock and conn.dialect.name == "postgresql"
    found = Entries({}, {})
    for chunk in chunks(sorted(set(message_ids))):
        if lock:
            conn.execute(_LOCK, {"ids": chunk})
        for message_id, submitter, sent, entity_type, entity_id, contact_client, record_client in conn.execute(
            _ENTRIES, {"ids": chunk}
        ):
            keys = found.keys.setdefault(message_id, set())
            found.sent[message_id] = sent
            if submitter is not None:
                keys.add(("users", submitter))
            if entity_type is not None and entity_type + "s" in INDEXES:
                keys.add((entity_type + "s", entity_id))
            for client in (contact_client, record_client):
                if client is not None:
                    keys.add(("clients", client))
    return found


def message_keys(session: Session, message_ids: Iterable[int], *, lock: bool = False) -> dict[int, set[Key]]:
    """Per message: the entries its mail counts under now (``message_entries`` without the dates)."""
    return message_entries(session, message_ids, lock=lock).keys


def count_added(
    session: Session, before: dict[int, set[Key]], after: Entries, teams: tuple[Teams, Teams] = ({}, {})
) -> int:
    """Add to the kept counts what each message brings to entries it did not count under before; how many
    (entry, message) pairs were added. ``before``/``after``: ``message_keys``/``message_entries`` around the links'
    insert. ``teams``: the teams that saw each message before and see it after (``team_mail.refresh``): a team that
    sees it now counts it under every entry it newly counts under for that team."""
    gained: dict[Key, list[int]] = {}
    team_gained: dict[tuple[int, str, int], list[int]] = {}
    for message_id, keys in after.keys.items():
        old = before.get(message_id, set())
        for key in keys - old:
            gained.setdefault(key, []).append(message_id)
        saw = teams[0].get(message_id, set())
        for team in teams[1].get(message_id, ()):
            for index, entity_id in keys - old if team in saw else keys:
                team_gained.setdefault((team, index, entity_id), []).append(message_id)
    conn = session.connection()
    # Sorted: one order for every writer, so no deadlock between two.
    for model, found in ((IndexCount, gained), (TeamCount, team_gained)):
        rows = [_added_row(model, key, ids, after.sent) for key, ids in sorted(found.items())]
        if rows:
            conn.execute(_UPSERT[conn.dialect.name, model], rows)
    # Adding links never hides a message from a team; should a team have stopped seeing one all the same, its
    # counts of that message's entries are counted again rather than left holding mail it no longer sees.
    lost = [m for m, saw in teams[0].items() if saw - teams[1].get(m, set())]
    recount(session, {key for m in lost for key in before.get(m, set()) | after.keys.get(m, set())})
    return sum(len(ids) for ids in gained.values())


def _added_row(
    model: type[IndexCount] | type[TeamCount], key: tuple[Any, ...], ids: list[int], sent: dict[int, datetime]
) -> dict[str, Any]:
    dates = [sent[m] for m in ids if m in sent]
    row = {"index_name": key[-2], "entity_id": key[-1], "messages": len(ids), "last_at": max(dates, default=None)}
    return row if model is IndexCount else {"team_id": key[0], **row}


def team_counts(index: str, ids: _Select | Sequence[int] | None, team_ids: Collection[int] | None = None) -> _Select:
    """Per team (``team``) and entity id (``key``): how many of the team's kept mail (``team_mail``) are linked to it
    (``n``) and the latest one's date (``last``), counted from the links now; among ``ids`` and ``team_ids``."""
    found = pairs(index, ids, None)
    return (
        select(
            TeamMail.team_id.label("team"), found.c.key, func.count().label("n"), func.max(TeamMail.sent).label("last")
        )
        .join(TeamMail, TeamMail.message_id == found.c.message_id)
        .where(*([] if team_ids is None else [TeamMail.team_id.in_(sorted(team_ids))]))
        .group_by(TeamMail.team_id, found.c.key)
    )


_COUNTED = ["index_name", "entity_id", "messages", "last_at"]


def recount(session: Session, keys: Iterable[Key]) -> None:
    """Count these entries' mail again from the links, for every viewer and each team (after mail or links were
    removed, or an entry moved)."""
    by_index: dict[str, set[int]] = {}
    for index, entity_id in keys:
        by_index.setdefault(index, set()).add(entity_id)
    for index, id_set in sorted(by_index.items()):
        for chunk in chunks(sorted(id_set)):
            for model in (IndexCount, TeamCount):
                session.execute(delete(model).where(model.index_name == index, model.entity_id.in_(chunk)))
            _insert_counts(session, IndexCount, index, live_counts(index, chunk, None))
            _insert_counts(session, TeamCount, index, team_counts(index, chunk))


def _insert_counts(session: Session, model: type[IndexCount] | type[TeamCount], index: str, counted: _Select) -> None:
    """Insert ``live_counts``' (or ``team_counts``') rows for ``index`` into ``model``'s table."""
    live = counted.subquery()
    name = literal(index, model.index_name.type)
    if model is TeamCount:
        source = select(live.c.team, name, live.c.key, live.c.n, live.c.last)
        session.execute(insert(model).from_select(["team_id", *_COUNTED], source))
    else:
        source = select(name, live.c.key, live.c.n, live.c.last)
        session.execute(insert(model).from_select(_COUNTED, source))


def rebuild_index_counts(session: Session, indexes: Iterable[str] = tuple(INDEXES)) -> None:
    """Count every entry's mail of these indexes again, from the links, in one statement per index (the teams'
    counts: ``team_mail.rebuild_team_mail``)."""
    for index in indexes:
        session.execute(delete(IndexCount).where(IndexCount.index_name == index))
        _insert_counts(session, IndexCount, index, live_counts(index, None, None))


def rebuild_team_counts(
    session: Session, team_ids: Collection[int] | None, indexes: Iterable[str] = tuple(INDEXES)
) -> None:
    """Count these teams' (``None``: every team's) kept mail again for each entry of these indexes."""
    for index in indexes:
        where = [] if team_ids is None else [TeamCount.team_id.in_(sorted(team_ids))]
        session.execute(delete(TeamCount).where(TeamCount.index_name == index, *where))
        _insert_counts(session, TeamCount, index, team_counts(index, None, team_ids))


def entry_keys(session: Session, entity_type: str, entity_id: int) -> list[Key]:
    """The entries whose mail includes what is linked to this one: itself, and a contact's or record's client."""
    keys: list[Key] = [(entity_type + "s", entity_id)]
    models: dict[str, type[Contact] | type[Record]] = {"contact": Contact, "record": Record}
    model = models.get(entity_type)
    if model is not None:
        client = session.scalar(select(model.client_id).where(model.id == entity_id))
        if client is not None:
            keys.append(("clients", client))
    return keys


def clients_of(session: Session, model: type[Contact] | type[Record]) -> dict[int, int | None]:
    """Every contact's (or record's) client id, to compare before and after an import."""
    return {entity_id: client for entity_id, client in session.execute(select(model.id, model.client_id))}


def recount_moved(session: Session, model: type[Contact] | type[Record], before: dict[int, int | None]) -> None:
    """Recount the clients a contact (or record) left or joined since ``before`` (``clients_of``): their mail
    moved with it."""
    moved: set[Key] = set()
    for entity_id, client in clients_of(session, model).items():
        old = before.get(entity_id, client)
        if old != client:
            moved.update(("clients", c) for c in (old, client) if c is not None)
    recount(session, moved)
