"""Running ``mailassist import`` in tests: a config, the CSV fixtures, and row counts of the directory tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import text

from mailassist.cli import cli
from store.db import make_engine
from tests.conftest import FIXTURES

CSV = FIXTURES / "import"
TABLES = ("users", "user_addresses", "teams", "clients", "client_domains", "client_emails", "contacts", "records")


def write_config(tmp_path: Path, url: str, codes: str = 'OP = "deal"') -> str:
    """A config file for the store at ``url``, migrated."""
    path = tmp_path / "mailassist.toml"
    path.write_text(f'[store]\nurl = "{url}"\nblob_dir = "{tmp_path / "blobs"}"\n\n[codes]\n{codes}\n')
    upgraded = CliRunner().invoke(cli, ["--config", str(path), "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    return str(path)


def run(config: str, kind: str, file: Path | str, *options: str) -> Result:
    return CliRunner().invoke(cli, ["--config", config, "import", kind, str(file), *options])


def ok(config: str, kind: str, file: Path | str, *options: str) -> str:
    result = run(config, kind, file, *options)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    # The import's own line; the relink line that follows it is tested in test_import_relink.py
    return result.stdout.strip().split("\nrelink: ")[0]


def failed(result: Result) -> list[str]:
    """The problem lines of a failed import; checks that it failed cleanly."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    *lines, last = result.stderr.strip().splitlines()
    assert last.startswith("mailassist: ") and last.endswith("; nothing was imported"), last
    return lines


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}
    finally:
        engine.dispose()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Result rows sorted in Python: PostgreSQL's collation may order punctuation differently."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(tuple(row) for row in conn.execute(text(sql)))
    finally:
        engine.dispose()


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def import_all(config: str) -> list[str]:
    return [ok(config, kind, CSV / f"{kind}.csv") for kind in ("users", "clients", "contacts", "records")]


FULL = {
    "users": 8,
    "user_addresses": 13,
    "teams": 3,
    "clients": 5,
    "client_domains": 5,
    "client_emails": 4,
    "contacts": 6,
    "records": 5,
}
