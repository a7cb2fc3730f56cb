"""Migration 0020: the teams' mail and counts of mail filed before it are decided from the mail and the users, as
the store keeps them."""

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
def test_the_upgrade_fills_the_teams_mail_filed_before_it(
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
    assert len(expected["team_mail"]) > 10 and len(expected["team_counts"]) > 10
    engine = make_engine(url)
    config = _alembic_config(engine)
    try:
        # Given the same mail at 0019, before teams' mail was kept
        command.downgrade(config, "0019")
        assert "team_mail" not in inspect(engine).get_table_names()
        # When the schema is upgraded again
        command.upgrade(config, "head")
        # Then the migration filled what the store would have kept
        with Session(engine) as session:
            assert kept_rows(session) == expected
    finally:
        engine.dispose()
