"""Migration 0012: every receipt records its source; those from before it came by SMTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from store import Store
from store.db import _alembic_config, make_engine


def _receipt(conn: object, inbound_id: str) -> None:
    conn.exec_driver_sql(  # type: ignore[attr-defined]
        "INSERT INTO inbound (id, received_at, mail_from, rcpt_tos, size, sha256, status, attempts, updated_at) "
        f"VALUES ('{inbound_id}', '2026-11-30 10:00:00', 'a@example.com', '[]', 1, 'x', 'queued', 0, "
        "'2026-11-30 10:00:00')"
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_existing_receipts_become_smtp_and_new_ones_keep_theirs(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/m.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    config = _alembic_config(engine)
    # Given a receipt stored at 0011
    command.upgrade(config, "0011")
    with engine.begin() as conn:
        _receipt(conn, "OLD")
    # When the schema is upgraded
    command.upgrade(config, "head")
    engine.dispose()
    store = Store(url, tmp_path / "blobs")
    store.open()
    try:
        new = store.receipts.add_inbound(b"Subject: x\r\n\r\nbody\r\n", mail_from="", rcpt_tos=[], source="api")
        # Then the old receipt came by SMTP, and a new one records where it came from
        assert store.receipts.get_inbound("OLD").source == "smtp"  # type: ignore[union-attr]
        assert store.receipts.get_inbound(new.id).source == "api"  # type: ignore[union-attr]
        assert store.receipts.add_inbound(b"y", mail_from="", rcpt_tos=[]).source == "smtp"
    finally:
        store.close()
    # And the downgrade drops the column again
    try:
        command.downgrade(config, "0011")
        assert "source" not in {c["name"] for c in inspect(engine).get_columns("inbound")}
    finally:
        engine.dispose()
