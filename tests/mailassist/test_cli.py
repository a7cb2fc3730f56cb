"""CLI behaviour that needs no running server: migrations, and refusing impossible setups clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailassist.cli import cli
from store.db import head_revision
from tests.conftest import FIXTURES


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


def test_unloadable_tls_certificate_is_one_clear_line(tmp_path: Path) -> None:
    from tests.conftest import free_port

    extra = (
        f'[smtp]\nlisten = "127.0.0.1:{free_port()}"\ntls_cert = "nowhere.pem"\n'
        f'[web]\nlisten = "127.0.0.1:{free_port()}"\n'
    )
    result = CliRunner().invoke(cli, ["--config", _config(tmp_path, extra), "serve"])
    assert result.exit_code == 2
    assert f"mailassist: smtp.tls_cert: no such file: {tmp_path.resolve() / 'nowhere.pem'}\n" in result.output
    assert "Traceback" not in result.output


# --- --config before or after the command -------------------------------------------------------------------------

MAIL = str(FIXTURES / "e2e" / "bcc_outgoing_pl.eml")


def _explained_codes(args: list[str], env: dict[str, str] | None = None) -> list[str]:
    """The codes ``mailassist ARGS`` (an explain of ``MAIL``) found; fails the test unless it succeeded."""
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return [code["code"] for code in json.loads(result.stdout)["codes"]]


def test_config_can_follow_explain_and_wins_there(tmp_path: Path) -> None:
    # Given two configs that differ only in whether they know the OP code prefix
    plain = _config(tmp_path)
    deals = str(tmp_path / "deals.toml")
    Path(deals).write_text(Path(plain).read_text() + '[codes]\nOP = "deal"\n')

    # When --config comes before the command (the old form) or after it (the documented one), it is used
    assert _explained_codes(["--config", deals, "explain", MAIL]) == ["OP-123"]
    assert _explained_codes(["explain", MAIL, "--config", deals]) == ["OP-123"]
    assert _explained_codes(["explain", "--config", deals, MAIL]) == ["OP-123"]

    # Then the one after the command beats the one before it and MAILASSIST_CONFIG
    assert _explained_codes(["--config", plain, "explain", MAIL, "--config", deals]) == ["OP-123"]
    assert _explained_codes(["--config", deals, "explain", MAIL, "--config", plain]) == []
    assert _explained_codes(["explain", MAIL, "--config", deals], env={"MAILASSIST_CONFIG": plain}) == ["OP-123"]
    assert _explained_codes(["explain", MAIL], env={"MAILASSIST_CONFIG": deals}) == ["OP-123"]


@pytest.mark.parametrize("command", [["queue"], ["db", "current"], ["token", "list"], ["reprocess", "--failed"]])
def test_every_command_takes_config_after_its_name(tmp_path: Path, command: list[str]) -> None:
    # Given MAILASSIST_CONFIG naming a file that does not exist
    env = {"MAILASSIST_CONFIG": str(tmp_path / "missing.toml")}

    # When the command names a good config after itself, then it runs on that one
    result = CliRunner().invoke(cli, [*command, "--config", _config(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    assert "config file not found" not in result.output

    # And without it, the missing file is reported as before
    failed = CliRunner().invoke(cli, command, env=env)
    assert failed.exit_code == 2
    assert "missing.toml: config file not found" in failed.output
