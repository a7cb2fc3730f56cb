"""Passwords and API tokens: the policy for a new password, argon2id hashes, and scoped bearer tokens of which only
a hash is kept. Pure functions, shared by the login and by ``mailassist user`` / ``mailassist token``.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: The shortest password ``mailassist user set-password`` accepts.
MIN_PASSWORD_LENGTH = 10
#: Every API token starts with this, so a leaked one is easy to recognise (and to grep for).
TOKEN_PREFIX = "ma_"  # noqa: S105 - a public marker, not a secret
#: What an API token may be allowed to do: ``read`` the API; ``ingest`` and ``directory:write`` its write routes
#: (``web.ingest_api``, ``web.directory_api``).
TOKEN_SCOPES = ("read", "ingest", "directory:write")
#: argon2id with the library's defaults (RFC 9106's low-memory profile); ``needs_rehash`` follows them as they move.
_HASHER = PasswordHasher()


class PasswordPolicyError(ValueError):
    """A new password that is empty or too short; ``str()`` says which."""


def check_new_password(password: str) -> None:
    """Raise ``PasswordPolicyError`` unless ``password`` is acceptable as a new password."""
    if not password:
        raise PasswordPolicyError("the password is empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password is too short: at least {MIN_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, salt and parameters included."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; a malformed hash matches nothing."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (then it is replaced at the next login)."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def new_api_token() -> str:
    """A new random bearer token: ``ma_`` and 32 random bytes, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    """What the store keeps of a token: its SHA-256, hex (tokens are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
