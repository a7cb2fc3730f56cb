"""``mailassist sources``, ``mailassist poller`` and the pollers inside ``mailassist serve``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from mailassist.cli import cli
from store import Store
from store.models import utcnow
from store.shapes import UserRow
from tests.mailassist.dovecot import Dovecot
from tests.mailassist.imap.support import ANNA, ANNA_PASSWORD, BOB, SUPPORT_PASSWORD, message
from tests.support import queue_rows, run_cli, running, wait_until

#: Redis database of the poller-process test (flushed after it).
REDIS_URL = "redis://127.0.0.1:6379/12"


def write_config(tmp_path: Path, sources: str, *, broker: str = "memory", extra: str = "") -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "m.db"}"\nblob_dir = "{tmp_path / "blobs"}"\n'
        f'[smtp]\nlisten = "127.0.0.1:{_free_port()}"\n[web]\nlisten = "127.0.0.1:{_free_port()}"\n'
        f'[queue]\nbroker = "{broker}"\n[logging]\nformat = "json"\n'
        '[assistant]\naddresses = ["assistant@crm.example.com"]\n[organization]\ndomains = ["example.com"]\n'
        f"{extra}{sources}",
        encoding="utf-8",
    )
    return path


def _free_port() -> int:
    from tests.conftest import free_port

    return free_port()


def imap_block(name: str, port: int, **values: Any) -> str:
    block = {
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "login": "anna",
        "password": ANNA_PASSWORD,
        "user": ANNA,
        "poll_interval": 0.3,
        "idle": False,
        "min_backoff": 0.2,
        "max_backoff": 1.0,
        **values,
    }
    return "\n[[sources.imap]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in block.items())


def seed(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open(upgrade=True)
    try:
        store.directory.apply_users(
            [UserRow(2, ANNA, "Anna Nowak", "Sales", "all"), UserRow(3, BOB, "Bob Support", "Support", "team")]
        )
    finally:
        store.close()


def opened(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    return store


def receipts(tmp_path: Path) -> list[Any]:
    """Every receipt, read beside the running process (quicker than ``mailassist queue`` in a child)."""
    store = opened(tmp_path)
    try:
        return store.receipts.list_inbound(limit=1000)
    finally:
        store.close()


def _three_configured_sources(tmp_path: Path) -> Path:
    """A seeded store and a config with sources anna (two folders), support (a group mailbox for Bob), and later."""
    seed(tmp_path)
    return write_config(
        tmp_path,
        imap_block("anna", 1143, folders=["INBOX", "Sent"])
        + imap_block("support", 1143, login="support", password=SUPPORT_PASSWORD, user=None, team="Support",
                     submitter=BOB).replace("user = null\n", "")
        + imap_block("later", 1143),
    )  # fmt: skip


def _record_polls(tmp_path: Path) -> None:
    """anna polled fine; support failed twice and waits; "old" is no longer configured."""
    store = opened(tmp_path)
    try:
        assert store.sources.claim_source("anna", "host:1:a", lease=60)
        assert store.sources.start_folder("anna", "INBOX", 77, "host:1:a") is not None
        assert store.sources.record_folder_progress("anna", "INBOX", "host:1:a", uidvalidity=77, last_uid=12, taken=12)
        assert store.sources.record_source_poll("anna", "host:1:a", state="waiting", finished=True)
        assert store.sources.claim_source("support", "host:1:b", lease=60)
        for _ in range(2):
            store.sources.record_source_poll(
                "support", "host:1:b", state="backoff", error="login refused for support@127.0.0.1:1143",
                next_poll_at=utcnow() + timedelta(seconds=30), finished=True,
            )  # fmt: skip
        assert store.sources.claim_source("old", "host:1:c", lease=60)
    finally:
        store.close()


def test_sources_lists_each_source_with_its_state_and_last_error(tmp_path: Path) -> None:
    config = _three_configured_sources(tmp_path)
    _record_polls(tmp_path)

    result = CliRunner().invoke(cli, ["--config", str(config), "sources"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "STATE", "LAST", "POLL", "(UTC)", "TAKEN", "OWNER", "/", "SERVER"]
    assert lines[1].split()[:3] == ["anna", "personal", "waiting"]
    assert lines[1].split()[-3:] == ["12", ANNA, "anna@127.0.0.1:1143"]
    assert lines[2].split() == ["INBOX:", "uidvalidity", "77,", "last", "uid", "12,", "12", "taken"]
    assert lines[3].split()[:3] == ["support", "group", "backoff"]
    assert "Support (for bob.support@example.com)" in lines[3]
    assert lines[4].strip().startswith("last error (2 in a row; next try ")
    assert lines[4].strip().endswith("login refused for support@127.0.0.1:1143")
    assert lines[5].split() == ["later", "personal", "new", "never", "0", ANNA, "anna@127.0.0.1:1143"]
    assert lines[6].split()[:3] == ["old", "-", "new"]
    assert "(no longer configured)" in lines[6]
    assert ANNA_PASSWORD not in result.output and SUPPORT_PASSWORD not in result.output

    as_json = json.loads(CliRunner().invoke(cli, ["--config", str(config), "sources", "--json"]).output)
    assert [(r["name"], r["state"], r["messages_taken"], r["failures"]) for r in as_json] == [
        ("anna", "waiting", 12, 0),
        ("support", "backoff", 0, 2),
        ("later", "new", 0, 0),
        ("old", "new", 0, 0),
    ]
    assert as_json[0]["folders"] == [
        {"folder": "INBOX", "uidvalidity": 77, "last_uid": 12, "messages_taken": 12, "resets": 0}
    ]


def test_sources_without_any(tmp_path: Path) -> None:
    config = write_config(tmp_path, "")
    result = CliRunner().invoke(cli, ["--config", str(config), "sources"])
    assert result.exit_code == 0
    assert result.output.startswith("No mailbox sources")


def test_poller_needs_sources_and_a_shared_broker(tmp_path: Path) -> None:
    none = CliRunner().invoke(cli, ["--config", str(write_config(tmp_path, "")), "poller"])
    assert none.exit_code == 2
    assert "no [[sources.imap]] block" in none.stderr

    seed(tmp_path)
    memory = CliRunner().invoke(cli, ["--config", str(write_config(tmp_path, imap_block("anna", 1143))), "poller"])
    assert memory.exit_code == 2
    assert "queue.broker = 'memory' works only inside 'mailassist serve'" in memory.stderr


@pytest.mark.slow
def test_serve_polls_its_sources_and_files_the_mail(tmp_path: Path, dovecot: Dovecot) -> None:
    dovecot.add_user("anna", ANNA_PASSWORD)
    dovecot.deliver("anna", message(1, subject="Offer OP-123"))
    seed(tmp_path)
    config = write_config(tmp_path, imap_block("anna", dovecot.port))

    with running(config, "serve", log_path=tmp_path / "serve.log") as child:
        assert "IMAP pollers for imap:anna" in child.startup_line
        assert wait_until(lambda: any(e.get("event") == "inbound linked" for e in child.events()), timeout=30), (
            child.log_text()[-3000:]
        )
        dovecot.deliver("anna", message(2))
        assert wait_until(lambda: len(receipts(tmp_path)) == 2, timeout=30)
        listed = json.loads(run_cli(config, "sources", "--json").stdout)
        assert (listed[0]["state"], listed[0]["messages_taken"]) in {("waiting", 2), ("polling", 2)}
        assert listed[0]["poller"] is not None
        assert child.stop() == 0

    rows = queue_rows(config)
    assert {(r["source"], r["proof"], r["submitter"]) for r in rows} == {("imap:anna", "imap:personal", ANNA)}
    # Stopped: the lease was given up
    listed = json.loads(run_cli(config, "sources", "--json").stdout)
    assert (listed[0]["state"], listed[0]["poller"]) == ("stopped", None)


@pytest.mark.slow
def test_two_poller_processes_share_the_mailboxes_never_one_mailbox(
    tmp_path: Path, dovecot: Dovecot, redis_available: None
) -> None:
    dovecot.add_user("anna", ANNA_PASSWORD)
    dovecot.add_user("support", SUPPORT_PASSWORD)
    dovecot.deliver("anna", *(message(n) for n in range(5)))
    seed(tmp_path)
    config = write_config(tmp_path, imap_block("anna", dovecot.port), broker=REDIS_URL)
    try:
        with (
            running(config, "poller", log_path=tmp_path / "p1.log") as first,
            running(config, "poller", log_path=tmp_path / "p2.log") as second,
        ):
            assert wait_until(lambda: len(receipts(tmp_path)) == 5, timeout=30)
            dovecot.deliver("anna", message(9))
            assert wait_until(lambda: len(receipts(tmp_path)) == 6, timeout=30)
            # One of them holds the mailbox; the other stands by
            takers = {
                child.pid
                for child in (first, second)
                if any(e.get("event") == "IMAP folder has new messages" for e in child.events())
            }
            assert len(takers) == 1
        rows = queue_rows(config)
        assert len({r["sha256"] for r in rows}) == 6
        assert {r["source"] for r in rows} == {"imap:anna"}
    finally:
        redis.Redis.from_url(REDIS_URL).flushdb()
