"""``mailassist queue``: the ingest log as a table and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mailassist.cli import cli
from store import Store


def _setup(tmp_path: Path) -> tuple[Path, Store]:
    config = tmp_path / "c.toml"
    config.write_text('[store]\nurl = "sqlite:///m.db"\nblob_dir = "blobs"\n')
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    return config, store


def test_queue_json_lists_receipts_with_status_and_error(tmp_path: Path) -> None:
    config, store = _setup(tmp_path)
    try:
        a = store.receipts.add_inbound(b"one", mail_from="anna@example.com", rcpt_tos=["assistant@crm.example.com"])
        b = store.receipts.add_inbound(b"two!", mail_from="", rcpt_tos=["assistant@crm.example.com"])
        store.receipts.mark_attempt_failed(b.id, "ValueError: bad", max_attempts=1)
    finally:
        store.close()
    result = CliRunner().invoke(cli, ["--config", str(config), "queue", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == [b.id, a.id]
    first = rows[1]
    assert first["status"] == "queued"
    assert first["mail_from"] == "anna@example.com"
    assert first["rcpt_tos"] == ["assistant@crm.example.com"]
    assert first["size"] == 3
    assert first["last_error"] is None
    assert first["received_at"].endswith("+00:00")
    assert rows[0]["status"] == "failed" and rows[0]["last_error"] == "ValueError: bad"

    failed = CliRunner().invoke(cli, ["--config", str(config), "queue", "--json", "--status", "failed"])
    assert [r["id"] for r in json.loads(failed.output)] == [b.id]

    table = CliRunner().invoke(cli, ["--config", str(config), "queue"])
    assert table.exit_code == 0
    assert a.id in table.output and "anna@example.com -> assistant@crm.example.com" in table.output
    assert "(ValueError: bad)" in table.output
    assert "<> -> " in table.output
    assert table.output.rstrip().endswith("-- 2 receipts")


def test_queue_rejects_an_unknown_status(tmp_path: Path) -> None:
    config, store = _setup(tmp_path)
    store.close()
    result = CliRunner().invoke(cli, ["--config", str(config), "queue", "--status", "lost"])
    assert result.exit_code == 2
    assert "'lost' is not one of" in result.output
