"""Access verbs: viewer logins (password hashes) and API tokens (stored as hashes only).

The store never sees a password or a token: callers hash them (``web.auth``) and hand over the hashes.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Executable, select, update
from sqlalchemy.orm import Session

from store.models import ApiToken, Team, User, utcnow
from store.views import LoginView, TokenView, UserRef

T = TypeVar("T")

#: ``last_used_at`` is written at most this often per token, so API reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_LOGIN = select(User.id, User.email, User.name, User.role, Team.name, User.password_hash).outerjoin(
    Team, User.team_id == Team.id
)


def _login(row: Any) -> LoginView:
    uid, email, name, role, team, password_hash = row
    return LoginView(id=uid, email=email, name=name, role=role, team=team, password_hash=password_hash)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))


class AuthVerbs:
    """Mixed into ``store.Store``, which provides ``_run``."""

    def _run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction, database errors wrapped (provided by ``Store``)."""
        raise NotImplementedError

    def get_login(self, email: str) -> LoginView | None:
        """The user whose primary email is ``email`` (case-insensitive), with its password hash, or ``None``."""
        stmt = _LOGIN.where(User.email == email.strip().lower())
        return self._run(lambda session: _one_login(session, stmt))

    def get_login_by_id(self, user_id: int) -> LoginView | None:
        """The user with this id, with its password hash (a session names its user by id), or ``None``."""
        stmt = _LOGIN.where(User.id == user_id)
        return self._run(lambda session: _one_login(session, stmt))

    def set_password_hash(self, email: str, password_hash: str) -> bool:
        """Replace the password hash of the user with this primary email; False when there is no such user."""
        stmt = (
            update(User)
            .where(User.email == email.strip().lower())
            .values(password_hash=password_hash, updated_at=utcnow())
        )
        return self._run(lambda session: _rowcount(session.execute(stmt)) == 1)

    def set_assistant_token_hash(self, email: str, token_hash: str | None) -> bool:
        """Replace the hash of the secret address token of the user with this primary email (``None``: revoke it);
        False when there is no such user. The old token stops working with this commit."""
        stmt = (
            update(User)
            .where(User.email == email.strip().lower())
            .values(assistant_token_hash=token_hash, updated_at=utcnow())
        )
        return self._run(lambda session: _rowcount(session.execute(stmt)) == 1)

    def has_assistant_token(self, email: str) -> bool:
        """Whether the user with this primary email has a secret assistant address."""
        stmt = select(User.assistant_token_hash).where(User.email == email.strip().lower())
        return self._run(lambda session: session.scalar(stmt) is not None)

    def find_user_by_assistant_token(self, token_hash: str) -> UserRef | None:
        """The user whose secret address token hashes to ``token_hash``, or ``None``. The hash found is compared
        again in constant time, so how long this takes says nothing about how close a guess was."""
        stmt = (
            select(User.id, User.email, User.name, User.role, Team.name, User.assistant_token_hash)
            .outerjoin(Team, User.team_id == Team.id)
            .where(User.assistant_token_hash == token_hash)
        )
        row = self._run(lambda session: session.execute(stmt).one_or_none())
        if row is None or not hmac.compare_digest(str(row[5]), token_hash):
            return None
        uid, email, name, role, team, _hash = row
        return UserRef(id=uid, email=email, name=name, role=role, team=team)

    def add_api_token(self, user_id: int, name: str, token_hash: str) -> int:
        """Store a new token's hash for ``user_id``; returns the token's id."""
        row = ApiToken(user_id=user_id, name=name, token_hash=token_hash, created_at=utcnow())

        def insert(session: Session) -> int:
            session.add(row)
            session.flush()
            return row.id

        return self._run(insert)

    def find_token_user(self, token_hash: str) -> LoginView | None:
        """The user owning the unrevoked token with this hash, or ``None``; notes the use (once a minute at most)."""
        now = utcnow()
        stmt = (
            select(ApiToken.id, ApiToken.last_used_at, *_LOGIN.selected_columns)
            .select_from(ApiToken)
            .join(User, ApiToken.user_id == User.id)
            .outerjoin(Team, User.team_id == Team.id)
            .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
        )

        def find(session: Session) -> LoginView | None:
            row = session.execute(stmt).first()
            if row is None:
                return None
            token_id, last_used, *user = row
            if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
                session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
            return _login(user)

        return self._run(find)

    def list_api_tokens(self, email: str | None = None) -> list[TokenView]:
        """Every token, revoked ones included, oldest first; only one user's when ``email`` is given."""
        stmt = select(
            ApiToken.id, User.email, ApiToken.name, ApiToken.created_at, ApiToken.last_used_at, ApiToken.revoked_at
        ).join(User, ApiToken.user_id == User.id)
        if email is not None:
            stmt = stmt.where(User.email == email.strip().lower())
        stmt = stmt.order_by(ApiToken.id)
        return self._run(
            lambda session: [
                TokenView(id=tid, user_email=mail, name=name, created_at=created, last_used_at=used, revoked_at=revoked)
                for tid, mail, name, created, used, revoked in session.execute(stmt)
            ]
        )

    def revoke_api_token(self, token_id: int) -> bool:
        """Revoke a token for good; False when there is no such token or it was already revoked."""
        stmt = (
            update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
        return self._run(lambda session: _rowcount(session.execute(stmt)) == 1)


def _one_login(session: Session, stmt: Executable) -> LoginView | None:
    row = session.execute(stmt).first()
    return _login(row) if row is not None else None
