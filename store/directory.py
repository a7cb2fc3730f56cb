"""Directory verbs: users, clients, contacts and records, looked up by address and imported in bulk."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.imports import import_clients, import_contacts, import_records, import_users, run_import
from store.models import Team, User, UserAddress
from store.views import ClientRow, ContactRow, ImportResult, RecordRow, UserRef, UserRow

T = TypeVar("T")


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
