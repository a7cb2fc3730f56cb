"""Fixtures the store tests share: the read-side world of ``tests/store/world.py``, and the directory the lookup
tests search (``tests/store/lookups_support.py``), each in the test's store.
"""

from __future__ import annotations

import pytest

from store import Store
from tests.store.lookups_support import ACME, DEAL, LONER, OFFER, PETRA, PIOTR, SKODA
from tests.store.world import World, build_world


@pytest.fixture
def world(store: Store) -> World:
    return build_world(store)


@pytest.fixture
def filled(store: Store) -> Store:
    """The test's store with the lookup tests' clients, contacts and records."""
    store.directory.apply_clients([ACME, SKODA])
    store.directory.apply_contacts([PIOTR, PETRA, LONER])
    store.directory.apply_records([DEAL, OFFER])
    return store
