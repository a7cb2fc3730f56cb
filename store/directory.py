"""Directory verbs: users, clients, contacts, leads and records, looked up in bulk by key and imported in bulk.

Every lookup is one indexed query per call (one per 500 keys), whatever the number of keys or rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Executable, select
from sqlalchemy.orm import Session

from store.imports import _load, import_clients, import_contacts, import_records, import_users, run_import
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
from store.views import (
    ClientRow,
    ContactRef,
    ContactRow,
    EntityRef,
    ImportResult,
    LeadRef,
    RecordRef,
    RecordRow,
    UserRef,
    UserRow,
)

T = TypeVar("T")

#: Records with their client's name: the columns of a ``RecordRef``.
_RECORD = (
    select(Record.id, Record.code, Record.type, Record.title, Record.client_id, Client.name)
    .select_from(Record)
    .outerjoin(Client, Record.client_id == Client.id)
)


def _addresses(addresses: Iterable[str]) -> list[str]:
    return sorted({a.strip().lower() for a in addresses if a and "@" in a})


def _record_ref(row: Any) -> RecordRef:
    rid, code, type_, title, client_id, client_name = row
    return RecordRef(id=rid, code=code, type=type_, title=title, client_id=client_id, client_name=client_name)


class DirectoryVerbs:
    """Mixed into ``store.Store``, which provides ``_run``."""

    def _run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction, database errors wrapped (provided by ``Store``)."""
        raise NotImplementedError

    def find_users_by_addresses(self, addresses: Iterable[str]) -> dict[str, UserRef]:
        """Map each given address (lower-cased) that belongs to a user, by primary email or alias, to the user."""
        wanted = {a.strip().lower() for a in addresses if a and "@" in a}
        if not wanted:
            return {}
        stmt = (
            select(UserAddress.address, User.id, User.email, User.name, User.role, Team.name)
            .join(User, UserAddress.user_id == User.id)
            .outerjoin(Team, User.team_id == Team.id)
            .where(UserAddress.address.in_(sorted(wanted)))
        )
        return self._run(
            lambda session: {
                address: UserRef(id=uid, email=email, name=name, role=role, team=team)
                for address, uid, email, name, role, team in session.execute(stmt)
            }
        )

    def find_contacts_by_addresses(self, addresses: Iterable[str]) -> dict[str, ContactRef]:
        """Map each given address (lower-cased) that belongs to a contact to the contact and its client."""
        stmt = (
            select(ContactEmail.address, Contact.id, Contact.name, Contact.client_id, Client.name)
            .join(Contact, ContactEmail.contact_id == Contact.id)
            .outerjoin(Client, Contact.client_id == Client.id)
        )
        rows = self._lookup(lambda chunk: stmt.where(ContactEmail.address.in_(chunk)), _addresses(addresses))
        return {
            address: ContactRef(id=cid, name=name, client_id=client_id, client_name=client_name)
            for address, cid, name, client_id, client_name in rows
        }

    def find_client_emails(self, addresses: Iterable[str]) -> dict[str, EntityRef]:
        """Map each given address (lower-cased) that is one of a client's own addresses to the client."""
        stmt = select(ClientEmail.address, Client.id, Client.name).join(Client, ClientEmail.client_id == Client.id)
        rows = self._lookup(lambda chunk: stmt.where(ClientEmail.address.in_(chunk)), _addresses(addresses))
        return {address: EntityRef(id=cid, label=name) for address, cid, name in rows}

    def find_leads_by_addresses(self, addresses: Iterable[str]) -> dict[str, LeadRef]:
        """Map each given address (lower-cased) that has a lead, converted or not, to the lead."""
        stmt = select(Lead.id, Lead.address, Lead.name, Lead.company, Lead.converted_contact_id)
        rows = self._lookup(lambda chunk: stmt.where(Lead.address.in_(chunk)), _addresses(addresses))
        return {
            address: LeadRef(id=lid, address=address, name=name, company=company, converted_contact_id=converted)
            for lid, address, name, company, converted in rows
        }

    def find_clients_by_domains(self, domains: Iterable[str]) -> dict[str, EntityRef]:
        """Map each given domain (lower-cased) that belongs to a client to the client."""
        wanted = sorted({d.strip().lower() for d in domains if d})
        stmt = select(ClientDomain.domain, Client.id, Client.name).join(Client, ClientDomain.client_id == Client.id)
        rows = self._lookup(lambda chunk: stmt.where(ClientDomain.domain.in_(chunk)), wanted)
        return {domain: EntityRef(id=cid, label=name) for domain, cid, name in rows}

    def find_records_by_codes(self, codes: Iterable[str]) -> dict[str, RecordRef]:
        """Map each given code (upper-cased) that names a record to the record and its client."""
        wanted = sorted({c.strip().upper() for c in codes if c})
        rows = self._lookup(lambda chunk: _RECORD.where(Record.code.in_(chunk)), wanted)
        return {ref.code: ref for ref in map(_record_ref, rows)}

    def find_thread_records(self, message_id_headers: Iterable[str]) -> list[RecordRef]:
        """Records already filed messages with these Message-IDs are linked to (a reply's thread), by id."""
        wanted = sorted({h for h in message_id_headers if h})
        stmt = (
            _RECORD.join(Link, (Link.entity_type == "record") & (Link.entity_id == Record.id))
            .join(Message, Link.message_id == Message.id)
            .distinct()
        )
        rows = self._lookup(lambda chunk: stmt.where(Message.message_id_header.in_(chunk)), wanted)
        refs = {ref.id: ref for ref in map(_record_ref, rows)}
        return [refs[rid] for rid in sorted(refs)]

    def find_message_by_dedupe_key(self, key: str) -> int | None:
        """The id of the message filed under ``key`` (original Message-ID or content hash), or ``None``."""
        stmt = select(Message.id).where(Message.dedupe_key == key)
        return self._run(lambda session: session.scalar(stmt))

    def _lookup(self, make: Callable[[list[str]], Executable], keys: list[str]) -> list[Any]:
        """Every row of ``make(chunk)`` for each chunk of ``keys``, in one transaction; no query for no keys."""
        if not keys:
            return []
        return self._run(lambda session: list(_load(session, make, keys)))

    def apply_users(self, rows: Sequence[UserRow], *, dry_run: bool = False) -> ImportResult:
        """Create or update users by email, with their teams; aliases become the row's. All rows or none."""
        return self._import(lambda session: import_users(session, rows), dry_run)

    def apply_clients(self, rows: Sequence[ClientRow], *, dry_run: bool = False) -> ImportResult:
        """Create or update clients by case-insensitive name; domains and emails become the row's. All or none."""
        return self._import(lambda session: import_clients(session, rows), dry_run)

    def apply_contacts(self, rows: Sequence[ContactRow], *, dry_run: bool = False) -> ImportResult:
        """Create contacts, or update the one contact owning a row's addresses; emails become the row's."""
        return self._import(lambda session: import_contacts(session, rows), dry_run)

    def apply_records(self, rows: Sequence[RecordRow], *, dry_run: bool = False) -> ImportResult:
        """Create or update records by code (case-insensitive, stored upper-case). All rows or none."""
        return self._import(lambda session: import_records(session, rows), dry_run)

    def _import(self, fn: Callable[[Session], ImportResult], dry_run: bool) -> ImportResult:
        return run_import(self._run, fn, dry_run)
