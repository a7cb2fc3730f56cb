"""Fixtures the store tests share: the read-side world of ``tests/store/world.py`` in the test's store."""

from __future__ import annotations

import pytest

from store import (
    Store,
)
from tests.store.world import World, build_world


@pytest.fixture
def world(store: Store) -> World:
    return build_world(store)
