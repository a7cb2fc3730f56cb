"""``mailassist user set-time-zone``: the zone the viewer shows a user's times in, checked against the zone database
before anything is stored, and cleared with ``--clear``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailassist.cli import cli
from store import Store


@pytest.fixture
def config(tmp_path: Path) -> str:
    """A config over a fresh SQLite store holding one user."""
    path = tmp_path / "c.toml"
    path.write_text('[store]\nurl = "sqlite:///m.db"\nblob_dir = "blobs"\n')
    users = tmp_path / "users.csv"
    users.write_text("email,name,team,role,aliases\nanna@example.com,Anna Nowak,Sales PL,team,\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "import", "users", str(users)])
    assert result.exit_code == 0, result.output
    return str(path)


def _run(config: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", config, *args])


def _zone(config: str, email: str = "anna@example.com") -> str | None:
    root = Path(config).parent
    store = Store(f"sqlite:///{root / 'm.db'}", root / "blobs")
    store.open()
    try:
        login = store.auth.get_login(email)
        assert login is not None
        return login.time_zone
    finally:
        store.close()


def test_a_zone_is_set_and_cleared(config: str) -> None:
    assert _zone(config) is None
    result = _run(config, "user", "set-time-zone", "Anna@Example.com", "Europe/Warsaw")
    assert result.exit_code == 0, result.output
    assert "anna@example.com's times in Europe/Warsaw" in result.output
    assert _zone(config) == "Europe/Warsaw"
    result = _run(config, "user", "set-time-zone", "anna@example.com", "--clear")
    assert result.exit_code == 0, result.output
    assert _zone(config) is None


@pytest.mark.parametrize("zone", ["Europe/Warszawa", "CEST", "europe/warsaw", "../../etc/passwd", ""])
def test_a_name_that_is_no_zone_is_refused_and_nothing_changes(config: str, zone: str) -> None:
    assert _run(config, "user", "set-time-zone", "anna@example.com", "Asia/Tokyo").exit_code == 0
    result = _run(config, "user", "set-time-zone", "anna@example.com", zone)
    assert result.exit_code != 0
    assert "is not a time zone" in result.output and "Traceback" not in result.output
    assert _zone(config) == "Asia/Tokyo"


def test_an_unknown_user_or_a_missing_zone_is_an_error(config: str) -> None:
    result = _run(config, "user", "set-time-zone", "nobody@example.com", "Europe/Warsaw")
    assert result.exit_code != 0 and "no user with the email nobody@example.com" in result.output
    for args in (["anna@example.com"], ["anna@example.com", "Europe/Warsaw", "--clear"]):
        result = _run(config, "user", "set-time-zone", *args)
        assert result.exit_code != 0 and "either a ZONE" in result.output
