"""Bulk directory import: users, clients, contacts and records from validated rows, all or nothing.

Every row is checked against the other rows and against the database first; only a clean batch is written, in one
transaction. Existing rows are found by natural key and updated in place, and their lists (aliases, domains,
emails) become exactly what the row says. Lookups go in chunks and writes in bulk statements, so a file of
100,000 rows costs a few hundred queries, not one per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.bulk import (
    Problems,
    chunked,
    insert_rows,
    labeller,
    owners_of,
    sync_children,
    update_rows,
)
from store.models import (
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
from store.team_mail import people_changing


class ClientNames:
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

    def resolve(self, problems: Problems, i: int, name: str | None) -> int | None:
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
    ids.update(zip(missing, insert_rows(session, Team, [{"name": n} for n in missing.values()]), strict=True))
    return ids, tuple(missing.values())


def _user_fields(row: UserRow, team_ids: dict[str, int]) -> dict[str, Any]:
    """The columns of ``users`` a row sets. ``time_zone`` only when the row sets it: a file without that column
    leaves every user's zone as ``user set-time-zone`` left it (and a file with it, empty, clears it, as for team)."""
    team_id = team_ids[row.team.casefold()] if row.team else None
    found = {"name": row.name, "role": row.role, "team_id": team_id}
    return {**found, "time_zone": row.time_zone} if row.sets_time_zone else found


def _check_users(rows: Sequence[UserRow]) -> tuple[Problems, dict[str, int], dict[str, int]]:
    """The rows checked against each other: their problems, row index by email, and row index by address claimed."""
    problems = Problems(rows)
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
    return problems, by_email, claims


def import_users(session: Session, rows: Sequence[UserRow]) -> ImportResult:
    """Create or update the users of ``rows``; the mail each team sees follows its members and their addresses."""
    with people_changing(session):
        return _import_users(session, rows)


def _import_users(session: Session, rows: Sequence[UserRow]) -> ImportResult:
    problems, by_email, claims = _check_users(rows)
    columns = select(User.id, User.email, User.name, User.role, User.team_id, User.time_zone)
    existing = {by_email[u.email]: u for u in chunked(session, lambda c: columns.where(User.email.in_(c)), by_email)}
    owners = owners_of(session, UserAddress.address, UserAddress.user_id, claims)
    target = {i: u.id for i, u in existing.items()}
    problems.owned(claims, owners, target, "address", describe=labeller(session, User.email, "user"))
    problems.raise_any()

    team_ids, new_teams = _teams(session, (row.team for row in rows if row.team))

    fresh = [i for i in range(len(rows)) if i not in existing]
    new_users = [{"email": rows[i].email, **_user_fields(rows[i], team_ids)} for i in fresh]
    ids = dict(zip(fresh, insert_rows(session, User, new_users), strict=True))
    ids.update((i, u.id) for i, u in existing.items())
    email_of = {ids[i]: row.email for i, row in enumerate(rows)}
    wanted = {ids[i]: _user_addresses(row) for i, row in enumerate(rows)}
    known = [u.id for u in existing.values()]
    touched = sync_children(
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
        if (new := _user_fields(rows[i], team_ids)) != {column: getattr(u, column) for column in new} or u.id in touched
    ]
    update_rows(session, User, changes)
    return ImportResult(created=len(fresh), updated=len(existing), new_teams=new_teams)


# --- clients --------------------------------------------------------------------------------------------------


def import_clients(session: Session, rows: Sequence[ClientRow]) -> ImportResult:
    problems = Problems(rows)
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

    names = ClientNames(session)
    target = {i: cid for i, row in enumerate(rows) if (cid := names.get(row.name)) is not None}
    describe = labeller(session, Client.name, "client")
    domain_owners = owners_of(session, ClientDomain.domain, ClientDomain.client_id, domain_claims)
    email_owners = owners_of(session, ClientEmail.address, ClientEmail.client_id, email_claims)
    problems.owned(domain_claims, domain_owners, target, "domain", describe=describe)
    problems.owned(email_claims, email_owners, target, "address", describe=describe)
    problems.raise_any()

    fresh = [i for i in range(len(rows)) if i not in target]
    ids = dict(zip(fresh, insert_rows(session, Client, [{"name": rows[i].name} for i in fresh]), strict=True))
    ids.update(target)
    domains = {ids[i]: row.domains for i, row in enumerate(rows)}
    emails = {ids[i]: row.emails for i, row in enumerate(rows)}
    touched = sync_children(session, ClientDomain.domain, ClientDomain.client_id, domains, target.values())
    touched |= sync_children(session, ClientEmail.address, ClientEmail.client_id, emails, target.values())
    spelling = {cid: name for name, cid in names.exact.items()}
    now = utcnow()
    changes = [
        {"id": cid, "name": rows[i].name, "updated_at": now}
        for i, cid in target.items()
        if rows[i].name != spelling[cid] or cid in touched
    ]
    update_rows(session, Client, changes)
    return ImportResult(created=len(fresh), updated=len(target))


# --- contacts -------------------------------------------------------------------------------------------------


def import_contacts(session: Session, rows: Sequence[ContactRow]) -> ImportResult:
    problems = Problems(rows)
    claims: dict[str, int] = {}
    for i, row in enumerate(rows):
        problems.width(i, "name", row.name, Contact, "name")
        if not row.emails:
            problems.add(i, "a contact needs at least one email address")
        for address in dict.fromkeys(row.emails):
            problems.width(i, f"address '{address}'", address, ContactEmail, "address")
            problems.claim(claims, i, address, "address")

    owners = owners_of(session, ContactEmail.address, ContactEmail.contact_id, claims)
    names = ClientNames(session)
    client_of: dict[int, int | None] = {}
    target: dict[int, int] = {}  # row index → contact id
    updated_by: dict[int, int] = {}  # contact id → row index
    for i, row in enumerate(rows):
        client_of[i] = names.resolve(problems, i, row.client)
        if i in problems.bad:
            continue
        found = {owners[a]: a for a in reversed(row.emails) if a in owners}
        if len(found) > 1:
            names_of = labeller(session, Contact.name, "contact")(set(found))
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
    new = insert_rows(session, Contact, [{"name": rows[i].name, "client_id": client_of[i]} for i in fresh])
    ids = dict(zip(fresh, new, strict=True))
    ids.update(target)
    wanted = {ids[i]: row.emails for i, row in enumerate(rows)}
    touched = sync_children(session, ContactEmail.address, ContactEmail.contact_id, wanted, target.values())
    columns = select(Contact.id, Contact.name, Contact.client_id)
    now = utcnow()
    changes = []
    for contact in chunked(session, lambda chunk: columns.where(Contact.id.in_(chunk)), target.values()):
        i = updated_by[contact.id]
        if (contact.name, contact.client_id) != (rows[i].name, client_of[i]) or contact.id in touched:
            changes.append({"id": contact.id, "name": rows[i].name, "client_id": client_of[i], "updated_at": now})
    update_rows(session, Contact, changes)
    return ImportResult(created=len(fresh), updated=len(target))


# --- records --------------------------------------------------------------------------------------------------


def import_records(session: Session, rows: Sequence[RecordRow]) -> ImportResult:
    problems = Problems(rows)
    by_code: dict[str, int] = {}
    names = ClientNames(session)
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
    existing = {by_code[r.code]: r for r in chunked(session, lambda c: columns.where(Record.code.in_(c)), by_code)}
    fresh = [i for i in range(len(rows)) if i not in existing]
    insert_rows(session, Record, [{"code": rows[i].code.upper(), **fields(i)} for i in fresh])
    now = utcnow()
    changes = [
        {"id": r.id, **new, "updated_at": now}
        for i, r in existing.items()
        if (new := fields(i)) != {"type": r.type, "title": r.title, "client_id": r.client_id}
    ]
    update_rows(session, Record, changes)
    return ImportResult(created=len(fresh), updated=len(existing))
