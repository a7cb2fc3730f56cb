"""Migration 0016: the index counts of mail filed before it are counted from the links, as the store keeps them."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from store import Store
from store.db import _alembic_config, make_engine
from tests.store.test_index_counts import kept
from tests.store.world import build_world


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_upgrade_counts_the_mail_filed_before_it(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/m.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url, tmp_path / "blobs")
    store.open(upgrade=True)
    try:
        build_world(store)
        expected = kept(store)  # as the store kept them while filing
    finally:
        store.close()
    assert len(expected) > 10
    engine = make_engine(url)
    config = _alembic_config(engine)
    try:
        # Given the same mail at 0014, before there were counts
        command.downgrade(config, "0014")
        assert "index_counts" not in inspect(engine).get_table_names()
        # When the schema is upgraded again
        command.upgrade(config, "head")
    finally:
        engine.dispose()
    store = Store(url, tmp_path / "blobs")
    store.open()
    try:
        # Then the migration counted what the store would have kept
        assert kept(store) == expected
    finally:
        store.close()
