"""Access verbs: viewer logins (password hashes, session generations) and API tokens (stored as hashes only).

The store never sees a password or a token: callers hash them (``web.auth``) and hand over the hashes.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Executable, or_, select, update
from sqlalchemy.orm import Session

from store.database import Database
from store.idn import stored_email
from store.models import ApiToken, Team, User, utcnow
from store.rows import from_row
from store.shapes import LoginView, TokenGrant, TokenView, UserRef

T = TypeVar("T")

#: ``last_used_at`` is written at most this often per token, so API reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_LOGIN = select(
    User.id, User.email, User.name, User.role, Team.name, User.password_hash, User.session_generation, User.time_zone
).outerjoin(Team, User.team_id == Team.id)
#: The ``LoginView`` field of each column of ``_LOGIN``, in order.
_LOGIN_FIELDS = ("id", "email", "name", "role", "team", "password_hash", "session_generation", "time_zone")


def _login(row: Any) -> LoginView:
    return LoginView(**dict(zip(_LOGIN_FIELDS, row, strict=True)))


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))


class Auth:
    """Logins, sessions, assistant addresses and API tokens, by their hashes."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def get_login(self, email: str) -> LoginView | None:
        """The user whose primary email is ``email`` (case-insensitive), with its password hash, or ``None``."""
        stmt = _LOGIN.where(User.email == stored_email(email))
        return self._db.run(lambda session: _one_login(session, stmt))

    def get_login_by_id(self, user_id: int) -> LoginView | None:
        """The user with this id, with its password hash (a session names its user by id), or ``None``."""
        stmt = _LOGIN.where(User.id == user_id)
        return self._db.run(lambda session: _one_login(session, stmt))

    def set_password_hash(self, email: str, password_hash: str) -> bool:
        """Set a new password hash for the user with this primary email, ending the user's sessions and revoking
        the user's tokens (service tokens excepted), all in one commit; False when there is no such user."""
        now = utcnow()
        user_id = select(User.id).where(User.email == stored_email(email)).scalar_subquery()
        set_hash = (
            update(User)
            .where(User.email == stored_email(email))
            .values(password_hash=password_hash, session_generation=User.session_generation + 1, updated_at=now)
        )
        revoke = (
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.service.is_(False), ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

        def change(session: Session) -> bool:
            if _rowcount(session.execute(set_hash)) != 1:
                return False
            session.execute(revoke)
            return True

        return self._db.run(change)

    def mark_password_rehashed(self, user_id: int, old_hash: str, new_hash: str) -> bool:
        """Replace a hash by a stronger one of the same password; sessions and tokens stay. False when the hash is no
        longer ``old_hash`` (a new password was set meanwhile: that one wins)."""
        stmt = (
            update(User)
            .where(User.id == user_id, User.password_hash == old_hash)
            .values(password_hash=new_hash, updated_at=utcnow())
        )
        return self._db.run(lambda session: _rowcount(session.execute(stmt)) == 1)

    def end_sessions(self, user_id: int, generation: int) -> bool:
        """End every session of the user issued under ``generation`` (all of them while it is the current one);
        False when there is no such user or that generation has already ended."""
        stmt = (
            update(User)
            .where(User.id == user_id, User.session_generation == generation)
            .values(session_generation=User.session_generation + 1)
        )
        return self._db.run(lambda session: _rowcount(session.execute(stmt)) == 1)

    def set_assistant_token_hash(self, email: str, token_hash: str | None) -> bool:
        """Replace the hash of the secret address token of the user with this primary email (``None``: revoke it);
        False when there is no such user. The old token stops working with this commit."""
        return self._update_user(email, assistant_token_hash=token_hash)

    def set_time_zone(self, email: str, time_zone: str | None) -> bool:
        """Set (``None``: clear) the time zone of the user with this primary email; False when there is no such user.

        The name is stored as given: the caller checks it is a zone (the store knows no zones)."""
        return self._update_user(email, time_zone=time_zone)

    def _update_user(self, email: str, **values: Any) -> bool:
        """Set ``values`` on the user with this primary email, in one commit; False when there is no such user."""
        stmt = update(User).where(User.email == stored_email(email)).values(**values, updated_at=utcnow())
        return self._db.run(lambda session: _rowcount(session.execute(stmt)) == 1)

    def has_assistant_token(self, email: str) -> bool:
        """Whether the user with this primary email has a secret assistant address."""
        stmt = select(User.assistant_token_hash).where(User.email == stored_email(email))
        return self._db.run(lambda session: session.scalar(stmt) is not None)

    def find_user_by_assistant_token(self, token_hash: str) -> UserRef | None:
        """The user whose secret address token hashes to ``token_hash``, or ``None``. The hash found is compared
        again in constant time, so how long this takes says nothing about how close a guess was."""
        stmt = (
            select(User.id, User.email, User.name, User.role, Team.name, User.assistant_token_hash)
            .outerjoin(Team, User.team_id == Team.id)
            .where(User.assistant_token_hash == token_hash)
        )
        row = self._db.run(lambda session: session.execute(stmt).one_or_none())
        if row is None or not hmac.compare_digest(str(row[5]), token_hash):
            return None
        uid, email, name, role, team, _hash = row
        return UserRef(id=uid, email=email, name=name, role=role, team=team)

    def add_api_token(
        self,
        user_id: int,
        name: str,
        token_hash: str,
        *,
        scopes: Iterable[str] = ("read",),
        expires_at: datetime | None = None,
        service: bool = False,
    ) -> int:
        """Store a new token's hash for ``user_id``, with what it may do and until when; returns the token's id."""
        words = sorted(set(scopes))
        if not words or any(not w or w.split() != [w] for w in words):
            raise ValueError(f"scopes must be non-empty single words: {words!r}")
        row = ApiToken(
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            created_at=utcnow(),
            scopes=" ".join(words),
            expires_at=expires_at,
            service=service,
        )

        def insert(session: Session) -> int:
            session.add(row)
            session.flush()
            return row.id

        return self._db.run(insert)

    def find_token_user(self, token_hash: str) -> TokenGrant | None:
        """The user owning the unrevoked, unexpired token with this hash and the token's scopes, or ``None``; notes
        the use (once a minute at most)."""
        now = utcnow()
        stmt = (
            select(ApiToken.id, ApiToken.last_used_at, ApiToken.scopes, *_LOGIN.selected_columns)
            .select_from(ApiToken)
            .join(User, ApiToken.user_id == User.id)
            .outerjoin(Team, User.team_id == Team.id)
            .where(
                ApiToken.token_hash == token_hash,
                ApiToken.revoked_at.is_(None),
                or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            )
        )

        def find(session: Session) -> TokenGrant | None:
            row = session.execute(stmt).first()
            if row is None:
                return None
            token_id, last_used, scopes, *user = row
            if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
                session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
            return TokenGrant(user=_login(user), scopes=frozenset(scopes.split()))

        return self._db.run(find)

    def list_api_tokens(self, email: str | None = None) -> list[TokenView]:
        """Every token, revoked ones included, oldest first; only one user's when ``email`` is given."""
        stmt = select(
            ApiToken.id,
            User.email.label("user_email"),
            ApiToken.name,
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.revoked_at,
            ApiToken.scopes,
            ApiToken.expires_at,
            ApiToken.service,
        ).join(User, ApiToken.user_id == User.id)
        if email is not None:
            stmt = stmt.where(User.email == stored_email(email))
        stmt = stmt.order_by(ApiToken.id)
        return self._db.run(
            lambda session: [
                from_row(TokenView, row, scopes=tuple(row.scopes.split())) for row in session.execute(stmt)
            ]
        )

    def revoke_api_token(self, token_id: int) -> bool:
        """Revoke a token for good; False when there is no such token or it was already revoked."""
        stmt = (
            update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
        return self._db.run(lambda session: _rowcount(session.execute(stmt)) == 1)


def _one_login(session: Session, stmt: Executable) -> LoginView | None:
    row = session.execute(stmt).first()
    return _login(row) if row is not None else None
