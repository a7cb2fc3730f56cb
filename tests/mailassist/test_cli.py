"""CLI behaviour that needs no running server: migrations, and refusing impossible setups clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mailassist.cli import cli
from store.db import head_revision


def _config(tmp_path: Path, extra: str = "", url: str = "sqlite:///m.db") -> str:
    path = tmp_path / "c.toml"
    path.write_text(f'[store]\nurl = "{url}"\nblob_dir = "blobs"\n{extra}')
    return str(path)


@pytest.mark.parametrize("part", ["smtp", "worker"])
def test_separate_processes_need_a_shared_broker(tmp_path: Path, part: str) -> None:
    result = CliRunner().invoke(cli, ["--config", _config(tmp_path), part])
    assert result.exit_code == 2
    assert "queue.broker = 'memory' works only inside 'mailassist serve'" in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_and_current_on_sqlite(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = CliRunner().invoke(cli, ["--config", config, "db", "upgrade"])
    assert first.exit_code == 0, first.output
    head = head_revision()
    assert f"upgraded from empty to {head}" in first.output
    again = CliRunner().invoke(cli, ["--config", config, "db", "upgrade"])
    assert f"already at {head}" in again.output
    current = CliRunner().invoke(cli, ["--config", config, "db", "current"])
    assert f"current: {head}" in current.output


def test_postgres_without_migrations_says_what_to_run(tmp_path: Path, pg_url: str) -> None:
    result = CliRunner().invoke(cli, ["--config", _config(tmp_path, url=pg_url), "queue"])
    assert result.exit_code == 1
    assert "database schema is empty" in result.output
    assert "run 'mailassist db upgrade'" in result.output
    assert CliRunner().invoke(cli, ["--config", _config(tmp_path, url=pg_url), "db", "upgrade"]).exit_code == 0
    assert CliRunner().invoke(cli, ["--config", _config(tmp_path, url=pg_url), "queue"]).exit_code == 0


def test_unreachable_postgres_is_one_clear_line(tmp_path: Path) -> None:
    from tests.conftest import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    result = CliRunner().invoke(cli, ["--config", _config(tmp_path, url=url), "queue"])
    assert result.exit_code == 1
    assert result.output.startswith("mailassist: database unreachable: OperationalError")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("busy", ["smtp", "web"])
def test_busy_port_is_one_clear_line(tmp_path: Path, busy: str) -> None:
    import socket

    from tests.conftest import free_port

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    ports = {"smtp": free_port(), "web": free_port(), busy: taken}
    extra = f'[smtp]\nlisten = "127.0.0.1:{ports["smtp"]}"\n[web]\nlisten = "127.0.0.1:{ports["web"]}"\n'
    try:
        result = CliRunner().invoke(cli, ["--config", _config(tmp_path, extra), "serve"])
    finally:
        blocker.close()
    assert result.exit_code == 1
    label = "SMTP" if busy == "smtp" else "web viewer"
    assert f"mailassist: {label} cannot listen on 127.0.0.1:{taken}: Address already in use" in result.output
    assert "Traceback" not in result.output
