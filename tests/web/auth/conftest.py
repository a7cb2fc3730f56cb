"""Fixtures for the viewer access tests: a store with users who have passwords, a hand-moved clock, a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from store import Store
from store.shapes import UserRow
from tests.web.auth.support import PASSWORD, Clock
from web.app import create_app
from web.auth.passwords import hash_password
from web.auth.throttle import LoginThrottle


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """A store with Anna (role team, with a password), the boss (role all, with a password) and Piotr (none)."""
    sqlite_store.directory.apply_users(
        [
            UserRow(line=2, email="anna@example.com", name="Anna Nowak", team="Sales PL", role="team"),
            UserRow(line=3, email="boss@example.com", name="Boss", team=None, role="all"),
            UserRow(line=4, email="piotr@example.com", name="Piotr", team="Sales PL", role="own"),
        ]
    )
    hashed = hash_password(PASSWORD)
    assert sqlite_store.auth.set_password_hash("anna@example.com", hashed)
    assert sqlite_store.auth.set_password_hash("boss@example.com", hashed)
    return sqlite_store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(store: Store, clock: Clock) -> Iterator[TestClient]:
    app = create_app(store, login_throttle=LoginThrottle(clock=clock))
    with TestClient(app, follow_redirects=False) as c:
        yield c
