"""Migrations 0016 and 0020: the rows the store keeps beside the mail (``index_counts``; ``team_mail`` and
``team_counts``) are filled from the mail filed before them, as the store would have kept them."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from store import Store
from store.db import _alembic_config, make_engine
from tests.kept import kept_rows
from tests.store.world import build_world


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_upgrades_fill_the_kept_rows_of_the_mail_filed_before_them(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/m.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url, tmp_path / "blobs")
    store.open(upgrade=True)
    try:
        build_world(store)
        with Session(store.engine) as session:
            expected = kept_rows(session)  # as the store kept them while filing
    finally:
        store.close()
    assert all(len(rows) > 10 for rows in expected.values()), {table: len(rows) for table, rows in expected.items()}
    engine = make_engine(url)
    config = _alembic_config(engine)
    try:
        # Given the same mail at 0014, before any of them was kept
        command.downgrade(config, "0014")
        assert not {"index_counts", "team_mail", "team_counts"} & set(inspect(engine).get_table_names())
        # When the schema is upgraded again
        command.upgrade(config, "head")
        # Then the migrations filled what the store would have kept
        with Session(engine) as session:
            assert kept_rows(session) == expected
    finally:
        engine.dispose()
