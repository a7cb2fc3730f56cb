"""Shared helpers for viewer tests: give users a password, log a TestClient in through the real login form, and
the read-side world of ``tests/store/world.py`` behind a viewer app, with a logged-in client per user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

import web.auth.passwords
from store import Store
from tests.store.world import USERS, World, build_world
from web.app import create_app
from web.auth.passwords import hash_password

#: The password ``set_passwords`` gives (long enough for ``web.auth.passwords.check_new_password``).
PASSWORD = "correct horse battery staple"

LoginFn = Callable[..., None]


#: argon2 with the smallest parameters: logins in tests cost a millisecond, not a fifth of a second.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def set_passwords(store: Store, emails: Iterable[str], password: str = PASSWORD) -> None:
    """Give each of these existing users ``password`` (hashed once, with ``web.auth``'s current hasher)."""
    hashed = hash_password(password)
    for email in emails:
        assert store.auth.set_password_hash(email, hashed), f"no user {email}"


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Log ``client`` in through ``GET``/``POST /login`` (CSRF token included); fail the test if that fails."""
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, page.text
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": match.group(1)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def login() -> LoginFn:
    """``login(client, email, password=PASSWORD)``: log a TestClient in as that user."""
    return log_in


@pytest.fixture
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash and verify passwords with ``FAST_HASHER`` for this test (the login code is unchanged otherwise)."""
    monkeypatch.setattr(web.auth.passwords, "_HASHER", FAST_HASHER)


@pytest.fixture
def world(store: Store, fast_passwords: None) -> World:
    """``build_world`` (users of every role, clients, nine emails), every user with the password ``PASSWORD``."""
    built = build_world(store)
    set_passwords(store, [u.email for u in USERS])
    return built


@pytest.fixture
def client_for(store: Store) -> Iterator[Callable[[str | None], TestClient]]:
    """``client_for(email)``: a TestClient of one viewer app over ``store``, logged in as that user.

    ``client_for(None)`` is anonymous. Redirects are not followed, so tests see them.
    """
    app = create_app(store, secret_key="test-secret-key-" + "x" * 32)
    clients: list[TestClient] = []

    def make(email: str | None) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        clients.append(client)
        if email is not None:
            log_in(client, email)
        return client

    yield make
    for client in clients:
        client.close()
