"""``mailassist import`` of a file as a whole: encoding and header problems, dry runs, and big files' progress bar."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import mailassist.cli_mail
from tests.mailassist.csv_import.support import (
    CSV,
    FULL,
    TABLES,
    counts,
    failed,
    import_all,
    ok,
    query,
    run,
    write,
    write_config,
)


def test_a_file_that_is_not_utf8_names_the_line(config: str, db_url: str) -> None:
    file = CSV / "users_cp1250.csv"
    assert failed(run(config, "users", file)) == [
        f"{file}:2: not UTF-8 (byte 0xbf); save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    ]
    assert counts(db_url)["users"] == 0


@pytest.mark.parametrize(
    ("content", "problems"),
    [
        (
            "email,name,role,Extra\n",
            [
                "1: unknown column 'extra'; allowed: email, name, team, role, aliases, time_zone",
                "1: missing column 'team'",
                "1: missing column 'aliases'",
            ],
        ),
        ("aliases,role,team,name,email,email\n", ["1: column 'email' appears twice"]),
        ("", ["1: the file is empty; expected a header line: email,name,team,role,aliases"]),
        ("\ufeff\n\n", ["1: the file is empty; expected a header line: email,name,team,role,aliases"]),
        (
            "email;name;team;role;aliases\n",
            ["1: columns are separated by ';'; save the file with ',' between them: email,name,team,role,aliases"],
        ),
        (
            'email,name,team,role,aliases\na@crm.example.com,"Anna,,all,\n',
            ["2: a quoted cell that starts on this line is never closed"],
        ),
    ],
)
def test_header_and_file_problems(config: str, tmp_path: Path, content: str, problems: list[str]) -> None:
    file = write(tmp_path, "users.csv", content)
    assert failed(run(config, "users", file)) == [f"{file}:{p}" for p in problems]


def test_dry_run_checks_everything_and_writes_nothing(config: str, db_url: str, tmp_path: Path) -> None:
    assert ok(config, "users", CSV / "users.csv", "--dry-run") == (
        f"{CSV / 'users.csv'}: 8 rows: 8 created, 0 updated, 3 new teams (Sprzedaż PL, Prodej CZ, Vânzări RO)"
        " (dry run, nothing written)"
    )
    assert counts(db_url) == dict.fromkeys(TABLES, 0)

    import_all(config)
    update = CSV / "users_update.csv"
    assert (
        ok(config, "users", update, "--dry-run") == f"{update}: 4 rows: 1 created, 3 updated (dry run, nothing written)"
    )
    assert counts(db_url) == FULL
    assert query(db_url, "SELECT address FROM user_addresses WHERE address LIKE 'anna%'") == [
        ("anna.nowak@crm.example.com",),
        ("anna@crm.example.com",),
    ]

    # Checks against the database run in a dry run too.
    clash = write(
        tmp_path, "users.csv", "email,name,team,role,aliases\nnew@crm.example.com,New,,own,jan@crm.example.com\n"
    )
    assert failed(run(config, "users", clash, "--dry-run")) == [
        f"{clash}:2: address 'jan@crm.example.com' already belongs to user 'jan.novak@crm.example.com'"
    ]


@pytest.fixture
def big_users(tmp_path: Path) -> Path:
    rows = "".join(f"user{i}@crm.example.com,User {i},Team {i % 7},own,u{i}@crm.example.com\n" for i in range(1_500))
    return write(tmp_path, "big.csv", "email,name,team,role,aliases\n" + rows)


class Terminal(io.StringIO):
    """Captured text that says it is a terminal, as a user's stderr would."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """Standard error as ``mailassist import`` sees it: a terminal, captured."""
    screen = Terminal()
    monkeypatch.setattr(mailassist.cli_mail, "progress_stream", lambda: screen)
    return screen


def test_big_files_show_a_progress_bar_on_a_terminal(tmp_path: Path, big_users: Path, terminal: Terminal) -> None:
    # Given a file of 1500 rows, and stderr a terminal
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'mailassist.db'}")

    # When it is imported
    summary = ok(config, "users", big_users)

    # Then the bar is drawn while the rows are checked, filling to 100%, before the rows are applied
    assert summary.startswith(f"{big_users}: 1500 rows: 1500 created")
    screen = terminal.getvalue()
    assert f"\rChecking {big_users}  [" in screen
    assert "  0%" in screen and "100%" in screen
    assert screen.rstrip().endswith("Applying 1500 rows…")


def test_small_files_show_no_progress_bar_even_on_a_terminal(tmp_path: Path, terminal: Terminal) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'mailassist.db'}")
    rows = "".join(f"user{i}@crm.example.com,User {i},,own,\n" for i in range(1_000))
    small = write(tmp_path, "small.csv", "email,name,team,role,aliases\n" + rows)

    assert ok(config, "users", small) == f"{small}: 1000 rows: 1000 created, 0 updated"
    assert terminal.getvalue() == ""


def test_big_files_import_without_progress_noise_off_a_terminal(config: str, db_url: str, big_users: Path) -> None:
    assert ok(config, "users", big_users).startswith(f"{big_users}: 1500 rows: 1500 created, 0 updated, 7 new teams")
    assert ok(config, "users", big_users) == f"{big_users}: 1500 rows: 0 created, 1500 updated"
    assert counts(db_url)["user_addresses"] == 3_000
