"""Fixtures for the ``mailassist import`` tests: a database URL on each backend and a config file using it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mailassist.csv_import.support import write_config


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mailassist.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> str:
    """A config file for a migrated, empty store, with ``[codes] OP = "deal"``."""
    return write_config(tmp_path, db_url)
