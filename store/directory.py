"""Directory verbs: users, clients, contacts and records, looked up by address and imported in bulk."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.models import Team, User, UserAddress
from store.views import UserRef


class DirectoryVerbs:
    """Mixed into ``store.Store``; needs ``self._sessions``."""

    _sessions: sessionmaker[Session]

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
        with self._sessions() as session:
            return {
                address: UserRef(id=uid, email=email, name=name, role=role, team=team)
                for address, uid, email, name, role, team in session.execute(stmt)
            }
