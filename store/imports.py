"""Bulk directory import: users, clients, contacts and records from validated rows, all or nothing.

Every row is checked against the other rows and against the database first; only a clean batch is written, in one
transaction. Existing rows are found by natural key and updated in place, and their lists (aliases, domains,
emails) become exactly what the row says. Lookups go in chunks and writes in bulk statements, so a file of
100,000 rows costs a few hundred queries, not one per row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Executable, delete, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from store.errors import ImportConflictError
from store.models import (
    Base,
    Client,
    ClientDomain,
    ClientEmail,
    Contact,
    ContactEmail,
    Record,
    Team,
    User,
    UserAddress,
    utcnow,
)
from store.shapes import ROLES, ClientRow, ContactRow, ImportResult, RecordRow, UserRow

T = TypeVar("T")

#: Keys per ``IN (...)`` query: far below the bound-parameter limits of SQLite and PostgreSQL.
CHUNK = 500


def _chunks(keys: Iterable[T]) -> Iterator[list[T]]:
    items = list(keys)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


@functools.cache
def _width(model: type[Base], column: str) -> int:
    length = getattr(model.__table__.c[column].type, "length", None)
    assert isinstance(length, int), f"{model.__name__}.{column} has no length"
    return length


class _DryRun(Exception):
    """Raised after a dry run's writes so that the transaction rolls back; carries the result out."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result


class _Row(Protocol):
    @property
    def line(self) -> int: ...


class _Problems:
    """``(line, message)`` pairs about rows known by index; a row with a problem is left out of later checks."""

    def __init__(self, rows: Sequence[_Row]) -> None:
        self.rows = rows
        self.items: list[tuple[int, str]] = []
        self.bad: set[int] = set()

    def add(self, i: int, message: str) -> None:
        self.items.append((self.rows[i].line, message))
        self.bad.add(i)

    def width(self, i: int, what: str, value: str, model: type[Base], column: str) -> None:
        limit = _width(model, column)
        if len(value) > limit:
            self.add(i, f"{what} is longer than {limit} characters")

    def claim(self, claims: dict[str, int], i: int, key: str, what: str) -> None:
        """Note that row ``i`` uses ``key``; a second row using it is a problem."""
        first = claims.setdefault(key, i)
        if first != i:
            self.add(i, f"{what} '{key}' is also used on line {self.rows[first].line}")

    def owned(
        self,
        claims: dict[str, int],
        owners: dict[str, int],
        target: dict[int, int],
        what: str,
        *,
        describe: Callable[[set[int]], Mapping[int, str]],
    ) -> None:
        """Each claimed key must be free, or owned by the claiming row's target, or by a target giving it up.

        An owner that this batch updates gives up every key its own row does not list (and a row listing a key
        another row claims is already a problem), so such keys may move. ``describe`` names the owners.
        """
        updated = set(target.values())
        taken = [
            (i, key, owner)
            for key, i in claims.items()
            if (owner := owners.get(key)) is not None and owner != target.get(i) and owner not in updated
        ]
        names = describe({owner for _, _, owner in taken}) if taken else {}
        for i, key, owner in taken:
            self.add(i, f"{what} '{key}' already belongs to {names[owner]}")

    def raise_any(self) -> None:
        if self.items:
            raise ImportConflictError(self.items)


def _load(session: Session, make: Callable[[list[Any]], Executable], keys: Iterable[Any]) -> Iterator[Any]:
    """Every result row of ``make(chunk)``, for each chunk of ``keys``."""
    for chunk in _chunks(keys):
        yield from session.execute(make(chunk))


def _owners(
    session: Session, key: InstrumentedAttribute[str], owner: InstrumentedAttribute[int], keys: Iterable[str]
) -> dict[str, int]:
    """``key value → owner id`` for those of ``keys`` that are taken.

    No join to the owner: a fresh PostgreSQL table without statistics would hash-join a full scan per chunk.
    """
    stmt = select(key, owner)
    return dict(_load(session, lambda c: stmt.where(key.in_(c)), keys))


def _describe(session: Session, name: InstrumentedAttribute[str], kind: str) -> Callable[[set[int]], dict[int, str]]:
    """A function that labels ids of ``name``'s table, such as ``user 'anna@example.com'``."""
    id_column = name.class_.__table__.c.id

    def labels(ids: set[int]) -> dict[int, str]:
        stmt = select(id_column, name)
        return {i: f"{kind} '{n}'" for i, n in _load(session, lambda c: stmt.where(id_column.in_(c)), sorted(ids))}

    return labels


def _insert(session: Session, model: type[Base], values: list[dict[str, Any]]) -> list[int]:
    """Insert rows in bulk; their new ids, in order."""
    if not values:
        return []
    stmt = insert(model).returning(model.__table__.c.id, sort_by_parameter_order=True)
    return list(session.scalars(stmt, values))


def _update(session: Session, model: type[Base], values: list[dict[str, Any]]) -> None:
    """Update rows in bulk by primary key (each dict has ``id``)."""
    if values:
        session.execute(update(model), values)


def _sync_children(
    session: Session,
    key: InstrumentedAttribute[str],
    parent: InstrumentedAttribute[int],
    wanted: Mapping[int, Iterable[str]],
    known: Iterable[int],
    *,
    extra: Callable[[int, str], dict[str, Any]] | None = None,
) -> set[int]:
    """Make each parent's children (addresses, domains) exactly ``wanted[parent]``; the parents that changed.

    ``known`` are the parents that existed before this batch (the others have no children yet). Every delete runs
    before any insert, so a key can move from one parent to another inside the batch without a unique violation.
    """
    child = key.class_
    child_id = child.__table__.c.id
    current: dict[int, dict[str, int]] = {}
    for cid, pid, value in _load(session, lambda c: select(child_id, parent, key).where(parent.in_(c)), known):
        current.setdefault(pid, {})[value] = cid
    stale: dict[int, list[int]] = {}
    for pid, have in current.items():
        keep = set(wanted[pid])
        stale[pid] = [cid for value, cid in have.items() if value not in keep]
    for chunk in _chunks(cid for cids in stale.values() for cid in cids):
        session.execute(delete(child).where(child_id.in_(chunk)).execution_options(synchronize_session=False))
    fresh = [
        (pid, value)
        for pid, values in wanted.items()
        for value in dict.fromkeys(values)
        if value not in current.get(pid, {})
    ]
    if fresh:
        extras = extra or (lambda _pid, _value: {})
        session.execute(
            insert(child), [{parent.key: pid, key.key: value, **extras(pid, value)} for pid, value in fresh]
        )
    return {pid for pid, cids in stale.items() if cids} | {pid for pid, _ in fresh}


class _ClientNames:
    """Client ids by name: the exact spelling first, else case-insensitively.

    Every name is loaded, because SQLite's ``lower()`` folds ASCII only; clients number thousands, not millions.
    """

    def __init__(self, session: Session) -> None:
        self.exact: dict[str, int] = {}
        self.folded: dict[str, int] = {}
        for client_id, name in session.execute(select(Client.id, Client.name).order_by(Client.id)):
            self.exact[name] = client_id
            self.folded.setdefault(name.casefold(), client_id)

    def get(self, name: str) -> int | None:
        return self.exact.get(name, self.folded.get(name.casefold()))

    def resolve(self, problems: _Problems, i: int, name: str | None) -> int | None:
        """The id of an existing client, ``None`` for no client; an unknown name is a problem."""
        if not name:
            return None
        client_id = self.get(name)
        if client_id is None:
            problems.add(i, f"unknown client '{name}' (import clients first)")
        return client_id


# --- users ----------------------------------------------------------------------------------------------------


def _user_addresses(row: UserRow) -> list[str]:
    return list(dict.fromkeys((row.email, *row.aliases)))


def _teams(session: Session, names: Iterable[str]) -> tuple[dict[str, int], tuple[str, ...]]:
    """Team ids by case-folded name, creating the missing teams (first spelling wins); and the new teams' names."""
    ids: dict[str, int] = {}
    for team_id, name in session.execute(select(Team.id, Team.name).order_by(Team.id)):
        ids.setdefault(name.casefold(), team_id)
    missing: dict[str, str] = {}
    for name in names:
        if name.casefold() not in ids:
            missing.setdefault(name.casefold(), name)
    ids.update(zip(missing, _insert(session, Team, [{"name": n} for n in missing.values()]), strict=True))
    return ids, tuple(missing.values())


def import_users(session: Session, rows: Sequence[UserRow]) -> ImportResult:
    problems = _Problems(rows)
    by_email: dict[str, int] = {}
    claims: dict[str, int] = {}
    for i, row in enumerate(rows):
        problems.width(i, "name", row.name, User, "name")
        problems.width(i, "team", row.team or "", Team, "name")
        for address in _user_addresses(row):
            problems.width(i, f"address '{address}'", address, UserAddress, "address")
        if row.role not in ROLES:
            problems.add(i, f"role must be one of {', '.join(ROLES)}, not '{row.role}'")
        if row.email in by_email:
            problems.add(i, f"duplicate user '{row.email}' (also on line {rows[by_email[row.email]].line})")
            continue
        by_email[row.email] = i
        for address in _user_addresses(row):
            problems.claim(claims, i, address, "address")

    columns = select(User.id, User.email, User.name, User.role, User.team_id)
    existing = {by_email[u.email]: u for u in _load(session, lambda c: columns.where(User.email.in_(c)), by_email)}
    owners = _owners(session, UserAddress.address, UserAddress.user_id, claims)
    target = {i: u.id for i, u in existing.items()}
    problems.owned(claims, owners, target, "address", describe=_describe(session, User.email, "user"))
    problems.raise_any()

    team_ids, new_teams = _teams(session, (row.team for row in rows if row.team))

    def fields(row: UserRow) -> dict[str, Any]:
        return {"name": row.name, "role": row.role, "team_id": team_ids[row.team.casefold()] if row.team else None}

    fresh = [i for i in range(len(rows)) if i not in existing]
    ids = dict(
        zip(fresh, _insert(session, User, [{"email": rows[i].email, **fields(rows[i])} for i in fresh]), strict=True)
    )
    ids.update((i, u.id) for i, u in existing.items())
    email_of = {ids[i]: row.email for i, row in enumerate(rows)}
    wanted = {ids[i]: _user_addresses(row) for i, row in enumerate(rows)}
    known = [u.id for u in existing.values()]
    touched = _sync_children(
        session,
        UserAddress.address,
        UserAddress.user_id,
        wanted,
        known,
        extra=lambda uid, a: {"is_primary": a == email_of[uid]},
    )
    now = utcnow()
    changes = [
        {"id": u.id, **new, "updated_at": now}
        for i, u in existing.items()
        if (new := fields(rows[i])) != {"name": u.name, "role": u.role, "team_id": u.team_id} or u.id in touched
    ]
    _update(session, User, changes)
    return ImportResult(created=len(fresh), updated=len(existing), new_teams=new_teams)


# --- clients --------------------------------------------------------------------------------------------------


def import_clients(session: Session, rows: Sequence[ClientRow]) -> ImportResult:
    problems = _Problems(rows)
    by_key: dict[str, int] = {}
    domain_claims: dict[str, int] = {}
    email_claims: dict[str, int] = {}
    for i, row in enumerate(rows):
        problems.width(i, "name", row.name, Client, "name")
        for domain in row.domains:
            problems.width(i, f"domain '{domain}'", domain, ClientDomain, "domain")
        for address in row.emails:
            problems.width(i, f"address '{address}'", address, ClientEmail, "address")
        key = row.name.casefold()
        if key in by_key:
            problems.add(i, f"duplicate client '{row.name}' (also on line {rows[by_key[key]].line})")
            continue
        by_key[key] = i
        for domain in dict.fromkeys(row.domains):
            problems.claim(domain_claims, i, domain, "domain")
        for address in dict.fromkeys(row.emails):
            problems.claim(email_claims, i, address, "address")

    names = _ClientNames(session)
    target = {i: cid for i, row in enumerate(rows) if (cid := names.get(row.name)) is not None}
    describe = _describe(session, Client.name, "client")
    domain_owners = _owners(session, ClientDomain.domain, ClientDomain.client_id, domain_claims)
    email_owners = _owners(session, ClientEmail.address, ClientEmail.client_id, email_claims)
    problems.owned(domain_claims, domain_owners, target, "domain", describe=describe)
    problems.owned(email_claims, email_owners, target, "address", describe=describe)
    problems.raise_any()

    fresh = [i for i in range(len(rows)) if i not in target]
    ids = dict(zip(fresh, _insert(session, Client, [{"name": rows[i].name} for i in fresh]), strict=True))
    ids.update(target)
    domains = {ids[i]: row.domains for i, row in enumerate(rows)}
    emails = {ids[i]: row.emails for i, row in enumerate(rows)}
    touched = _sync_children(session, ClientDomain.domain, ClientDomain.client_id, domains, target.values())
    touched |= _sync_children(session, ClientEmail.address, ClientEmail.client_id, emails, target.values())
    spelling = {cid: name for name, cid in names.exact.items()}
    now = utcnow()
    changes = [
        {"id": cid, "name": rows[i].name, "updated_at": now}
        for i, cid in target.items()
        if rows[i].name != spelling[cid] or cid in touched
    ]
    _update(session, Client, changes)
    return ImportResult(created=len(fresh), updated=len(target))


# --- contacts -------------------------------------------------------------------------------------------------


def import_contacts(session: Session, rows: Sequence[ContactRow]) -> ImportResult:
    problems = _Problems(rows)
    claims: dict[str, int] = {}
    for i, row in enumerate(rows):
        problems.width(i, "name", row.name, Contact, "name")
        if not row.emails:
            problems.add(i, "a contact needs at least one email address")
        for address in dict.fromkeys(row.emails):
            problems.width(i, f"address '{address}'", address, ContactEmail, "address")
            problems.claim(claims, i, address, "address")

    owners = _owners(session, ContactEmail.address, ContactEmail.contact_id, claims)
    names = _ClientNames(session)
    client_of: dict[int, int | None] = {}
    target: dict[int, int] = {}  # row index → contact id
    updated_by: dict[int, int] = {}  # contact id → row index
    for i, row in enumerate(rows):
        client_of[i] = names.resolve(problems, i, row.client)
        if i in problems.bad:
            continue
        found = {owners[a]: a for a in reversed(row.emails) if a in owners}
        if len(found) > 1:
            names_of = _describe(session, Contact.name, "contact")(set(found))
            which = ", ".join(f"'{a}' ({names_of[c]})" for c, a in reversed(found.items()))
            problems.add(i, f"addresses belong to different contacts: {which}")
        elif found:
            ((contact_id, address),) = found.items()
            if contact_id in updated_by:
                problems.add(i, f"updates the same contact as line {rows[updated_by[contact_id]].line} ('{address}')")
            updated_by.setdefault(contact_id, i)
            target[i] = contact_id
    problems.raise_any()

    fresh = [i for i in range(len(rows)) if i not in target]
    new = _insert(session, Contact, [{"name": rows[i].name, "client_id": client_of[i]} for i in fresh])
    ids = dict(zip(fresh, new, strict=True))
    ids.update(target)
    wanted = {ids[i]: row.emails for i, row in enumerate(rows)}
    touched = _sync_children(session, ContactEmail.address, ContactEmail.contact_id, wanted, target.values())
    columns = select(Contact.id, Contact.name, Contact.client_id)
    now = utcnow()
    changes = []
    for contact in _load(session, lambda chunk: columns.where(Contact.id.in_(chunk)), target.values()):
        i = updated_by[contact.id]
        if (contact.name, contact.client_id) != (rows[i].name, client_of[i]) or contact.id in touched:
            changes.append({"id": contact.id, "name": rows[i].name, "client_id": client_of[i], "updated_at": now})
    _update(session, Contact, changes)
    return ImportResult(created=len(fresh), updated=len(target))


# --- records --------------------------------------------------------------------------------------------------


def import_records(session: Session, rows: Sequence[RecordRow]) -> ImportResult:
    problems = _Problems(rows)
    by_code: dict[str, int] = {}
    names = _ClientNames(session)
    client_of: dict[int, int | None] = {}
    for i, row in enumerate(rows):
        code = row.code.upper()
        problems.width(i, "code", code, Record, "code")
        problems.width(i, "type", row.type, Record, "type")
        problems.width(i, "title", row.title, Record, "title")
        client_of[i] = names.resolve(problems, i, row.client)
        if code in by_code:
            problems.add(i, f"duplicate record '{code}' (also on line {rows[by_code[code]].line})")
        by_code.setdefault(code, i)
    problems.raise_any()

    def fields(i: int) -> dict[str, Any]:
        return {"type": rows[i].type, "title": rows[i].title, "client_id": client_of[i]}

    columns = select(Record.id, Record.code, Record.type, Record.title, Record.client_id)
    existing = {by_code[r.code]: r for r in _load(session, lambda c: columns.where(Record.code.in_(c)), by_code)}
    fresh = [i for i in range(len(rows)) if i not in existing]
    _insert(session, Record, [{"code": rows[i].code.upper(), **fields(i)} for i in fresh])
    now = utcnow()
    changes = [
        {"id": r.id, **new, "updated_at": now}
        for i, r in existing.items()
        if (new := fields(i)) != {"type": r.type, "title": r.title, "client_id": r.client_id}
    ]
    _update(session, Record, changes)
    return ImportResult(created=len(fresh), updated=len(existing))


def run_import(
    run: Callable[[Callable[[Session], ImportResult]], ImportResult],
    fn: Callable[[Session], ImportResult],
    dry_run: bool,
) -> ImportResult:
    """Run one import in one transaction via ``run``; a dry run writes too (so the database's own constraints
    are checked) and then rolls everything back."""

    def body(session: Session) -> ImportResult:
        result = fn(session)
        session.flush()
        if dry_run:
            raise _DryRun(result)
        return result

    try:
        return run(body)
    except _DryRun as done:
        return done.result
