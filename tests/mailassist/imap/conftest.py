"""Fixtures for the IMAP source tests: a store with Anna and Bob, a Dovecot with their logins, pollers closed after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store import Store
from store.shapes import UserRow
from tests.mailassist.dovecot import Dovecot
from tests.mailassist.imap.support import ANNA, ANNA_PASSWORD, BOB, SUPPORT_PASSWORD, made_pollers


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    sqlite_store.directory.apply_users(
        [
            UserRow(2, ANNA, "Anna Nowak", "Sales", "team"),
            UserRow(3, BOB, "Bob Support", "Support", "team"),
        ]
    )
    return sqlite_store


@pytest.fixture
def server(dovecot: Dovecot) -> Dovecot:
    dovecot.add_user("anna", ANNA_PASSWORD)
    dovecot.add_user("support", SUPPORT_PASSWORD)
    return dovecot


@pytest.fixture(autouse=True)
def close_pollers() -> Iterator[None]:
    yield
    while made_pollers:
        p = made_pollers.pop()
        p.drop()
        p.ingestor.close()
