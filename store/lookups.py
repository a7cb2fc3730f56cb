"""The directory's lookups: users, clients, contacts, leads and records looked up in bulk by key (most of this
module), with the ``Directory`` group that serves them and imports and deletes entries (``store.imports``,
``store.deletes``).

Every lookup is one indexed query per call (one per 500 keys), whatever the number of keys or rows. The lookup
statements are built once, with an expanding ``IN`` parameter, and run on a plain connection: the linker asks
several per message, so SQLAlchemy's per-statement construction and ORM overhead would cost more than the queries.
Inside ``Database.reading()`` a thread's lookups share one connection and transaction (one checkout, no BEGIN each).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Connection,
    Executable,
    Integer,
    String,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from store.bulk import chunks, run_import
from store.database import Database
from store.deletes import delete_entry
from store.imports import import_clients, import_contacts, import_records, import_users
from store.index_counts import clients_of, recount_moved
from store.models import (
    Client,
    ClientDomain,
    ClientEmail,
    Contact,
    ContactEmail,
    Lead,
    Link,
    Message,
    Record,
    Team,
    User,
    UserAddress,
)
from store.page_shapes import Viewer
from store.shapes import (
    ClientRow,
    ContactRef,
    ContactRow,
    DeleteResult,
    EntityRef,
    ImportResult,
    LeadRef,
    PeopleRefs,
    RecordRef,
    RecordRow,
    ThreadLinkRef,
    UserRef,
    UserRow,
)
from store.visibility import visible_each

T = TypeVar("T")

#: The keys of one lookup chunk.
_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)

#: Records with their client's name: the columns of a ``RecordRef``.
_RECORD = (
    select(Record.id, Record.code, Record.type, Record.title, Record.client_id, Client.name)
    .select_from(Record)
    .outerjoin(Client, Record.client_id == Client.id)
)

_USERS = (
    select(UserAddress.address, User.id, User.email, User.name, User.role, Team.name)
    .join(User, UserAddress.user_id == User.id)
    .outerjoin(Team, User.team_id == Team.id)
    .where(UserAddress.address.in_(_KEYS))
)
_RECORDS = _RECORD.where(Record.code.in_(_KEYS))

# Everything ``find_people`` asks, in one statement: each branch is one of the lookups above, its columns laid out
# as (kind, key, id, text1, text2, ref). A statement costs more in SQLAlchemy's execution path (and, on PostgreSQL,
# a round trip and a plan) than SQLite's work on these few indexed rows.
_DOMAINS: BindParameter[Any] = bindparam("domains", expanding=True)
_NO_TEXT = cast(null(), String)
_NO_REF = cast(null(), Integer)
_PEOPLE: CompoundSelect[Any] = union_all(
    select(literal("contact"), ContactEmail.address, Contact.id, Contact.name, Client.name, Contact.client_id)
    .join(Contact, ContactEmail.contact_id == Contact.id)
    .outerjoin(Client, Contact.client_id == Client.id)
    .where(ContactEmail.address.in_(_KEYS)),
    select(literal("client"), ClientEmail.address, Client.id, Client.name, _NO_TEXT, _NO_REF)
    .join(Client, ClientEmail.client_id == Client.id)
    .where(ClientEmail.address.in_(_KEYS)),
    select(literal("lead"), Lead.address, Lead.id, Lead.name, Lead.company, Lead.converted_contact_id).where(
        Lead.address.in_(_KEYS)
    ),
    select(literal("domain"), ClientDomain.domain, Client.id, Client.name, _NO_TEXT, _NO_REF)
    .join(Client, ClientDomain.client_id == Client.id)
    .where(ClientDomain.domain.in_(_DOMAINS)),
)

#: The links a reply inherits from the filed messages it answers (``linker.threads``).
THREAD_ENTITY_TYPES = ("record", "client", "contact")

# Nested IN, not a join on the Message-ID: the planner must start from the Message-ID index, then the links of those
# few messages. Joined, SQLite starts from every record link (a scan that grows with the mail filed).
_THREAD_RECORD = aliased(Record)
_THREAD_CLIENT = aliased(Client)
_THREAD_CONTACT = aliased(Contact)
_THREAD_LINKS = (
    select(
        Message.id,
        Message.message_id_header,
        Link.entity_type,
        Link.entity_id,
        func.coalesce(_THREAD_RECORD.code, _THREAD_CLIENT.name, _THREAD_CONTACT.name),
    )
    .select_from(Link)
    .join(Message, Message.id == Link.message_id)
    .outerjoin(_THREAD_RECORD, (Link.entity_type == "record") & (_THREAD_RECORD.id == Link.entity_id))
    .outerjoin(_THREAD_CLIENT, (Link.entity_type == "client") & (_THREAD_CLIENT.id == Link.entity_id))
    .outerjoin(_THREAD_CONTACT, (Link.entity_type == "contact") & (_THREAD_CONTACT.id == Link.entity_id))
    .where(
        Link.message_id.in_(select(Message.id).where(Message.message_id_header.in_(_KEYS))),
        Link.entity_type.in_(THREAD_ENTITY_TYPES),
    )
    .order_by(Message.id, Link.entity_type, Link.entity_id)
)
_VIEWER = (
    select(User.role, User.team_id, UserAddress.address)
    .outerjoin(UserAddress, UserAddress.user_id == User.id)
    .where(User.id == bindparam("user_id"))
)


@functools.lru_cache(maxsize=256)
def _thread_links(viewer: Viewer, limit: int) -> Executable:
    """The thread lookup for what ``viewer`` may see, built once per viewer: the linker asks once per reply, and
    built each time the statement and its cache key cost about half of what the query does. Visibility is checked
    message by message (``visible_each``) on the few messages the reply names: ``visible`` would first list every
    message the user or team may see, a cost growing with the mail stored."""
    return _THREAD_LINKS.where(visible_each(viewer)).limit(limit)


def _addresses(addresses: Iterable[str]) -> list[str]:
    return sorted({a.strip().lower() for a in addresses if a and "@" in a})


def _record_ref(row: Any) -> RecordRef:
    rid, code, type_, title, client_id, client_name = row
    return RecordRef(id=rid, code=code, type=type_, title=title, client_id=client_id, client_name=client_name)


def _moving(session: Session, model: type[Contact] | type[Record], run: Callable[[], ImportResult]) -> ImportResult:
    """``run`` an import of contacts or records, then recount the clients whose mail moved with them."""
    before = clients_of(session, model)
    result = run()
    recount_moved(session, model, before)
    return result


class Directory:
    """The directory: batched lookups (the linker's, several per message) and its imports and deletes."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def _lookup(self, stmt: Executable, keys: list[str]) -> list[Any]:
        """Every row of ``stmt`` for each chunk of ``keys``; no query for no keys."""
        if not keys:
            return []
        return self._db.read(
            lambda conn: [row for chunk in chunks(keys) for row in conn.execute(stmt, {"keys": chunk})]
        )

    def find_users_by_addresses(self, addresses: Iterable[str]) -> dict[str, UserRef]:
        """Map each given address (lower-cased) that belongs to a user, by primary email or alias, to the user."""
        rows = self._lookup(_USERS, _addresses(addresses))
        return {
            address: UserRef(id=uid, email=email, name=name, role=role, team=team)
            for address, uid, email, name, role, team in rows
        }

    def find_people(self, addresses: Iterable[str]) -> PeopleRefs:
        """Contacts, client addresses and leads for the given addresses (lower-cased), and clients for their
        domains, each by its lower-cased address (a domain: by itself), in one query (one per 500 addresses)."""
        people = PeopleRefs(contacts={}, client_emails={}, leads={}, client_domains={})
        keys = _addresses(addresses)
        if not keys:
            return people

        def rows(conn: Connection) -> list[Any]:
            out: list[Any] = []
            for chunk in chunks(keys):
                domains = sorted({key.rpartition("@")[2] for key in chunk})
                out += conn.execute(_PEOPLE, {"keys": chunk, "domains": domains})
            return out

        for kind, key, id_, text1, text2, ref in self._db.read(rows):
            if kind == "contact":
                people.contacts[key] = ContactRef(id=id_, name=text1, client_id=ref, client_name=text2)
            elif kind == "client":
                people.client_emails[key] = EntityRef(id=id_, label=text1)
            elif kind == "lead":
                people.leads[key] = LeadRef(id=id_, address=key, name=text1, company=text2, converted_contact_id=ref)
            else:
                people.client_domains[key] = EntityRef(id=id_, label=text1)
        return people

    def find_records_by_codes(self, codes: Iterable[str]) -> dict[str, RecordRef]:
        """Map each given code (upper-cased) that names a record to the record and its client."""
        rows = self._lookup(_RECORDS, sorted({c.strip().upper() for c in codes if c}))
        return {ref.code: ref for ref in map(_record_ref, rows)}

    def find_thread_links(self, message_id_headers: Iterable[str], *, user_id: int, limit: int) -> list[ThreadLinkRef]:
        """The record, client and contact links of filed messages with these Message-IDs that user ``user_id`` may
        see (``store.visibility``), by message id, at most ``limit``; none for an unknown user. Two queries: the
        user's role, team and addresses, then the links."""
        keys = sorted({h for h in message_id_headers if h})
        if not keys or limit <= 0:
            return []

        def rows(conn: Connection) -> list[Any]:
            found = conn.execute(_VIEWER, {"user_id": user_id}).all()
            if not found:
                return []
            role, team_id = found[0][0], found[0][1]
            addresses = tuple(sorted({row[2] for row in found if row[2]}))
            viewer = Viewer(user_id=user_id, role=role, team_id=team_id, addresses=addresses)
            stmt = _thread_links(viewer, limit)
            out: list[Any] = []
            for chunk in chunks(keys):
                out += conn.execute(stmt, {"keys": chunk})
            return out[:limit]

        return [
            ThreadLinkRef(message_id=mid, message_id_header=header, entity_type=kind, entity_id=eid, label=label or "")
            for mid, header, kind, eid, label in self._db.read(rows)
        ]

    def apply_users(self, rows: Sequence[UserRow], *, dry_run: bool = False) -> ImportResult:
        """Create or update users by email, with their teams; aliases become the row's, and the time zone too
        where the row sets it (``UserRow.sets_time_zone``). All rows or none."""
        return self._import(lambda session: import_users(session, rows), dry_run)

    def apply_clients(self, rows: Sequence[ClientRow], *, dry_run: bool = False) -> ImportResult:
        """Create or update clients by case-insensitive name; domains and emails become the row's. All or none."""
        return self._import(lambda session: import_clients(session, rows), dry_run)

    def apply_contacts(self, rows: Sequence[ContactRow], *, dry_run: bool = False) -> ImportResult:
        """Create contacts, or update the one contact owning a row's addresses; emails become the row's."""
        return self._import(lambda session: _moving(session, Contact, lambda: import_contacts(session, rows)), dry_run)

    def apply_records(self, rows: Sequence[RecordRow], *, dry_run: bool = False) -> ImportResult:
        """Create or update records by code (case-insensitive, stored upper-case). All rows or none."""
        return self._import(lambda session: _moving(session, Record, lambda: import_records(session, rows)), dry_run)

    def delete_entry(self, kind: str, key: str, *, force: bool = False) -> DeleteResult | None:
        """Delete one user, client, contact or record by natural key (``store.deletes``); ``None``: no such entry.
        Raises ``EntryInUseError`` when something refers to it and ``force`` is not given (or cannot help)."""
        return self._db.run(lambda session: delete_entry(session, kind, key, force=force))

    def _import(self, fn: Callable[[Session], ImportResult], dry_run: bool) -> ImportResult:
        return run_import(self._db.run, fn, dry_run)
