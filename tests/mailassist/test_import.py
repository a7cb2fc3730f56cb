"""``mailassist import``: CSV files into the directory through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

import mailassist.cli_mail
from mailassist.cli import cli
from store.db import make_engine
from tests.conftest import FIXTURES

CSV = FIXTURES / "import"
TABLES = ("users", "user_addresses", "teams", "clients", "client_domains", "client_emails", "contacts", "records")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mailassist.db'}"
    return str(request.getfixturevalue("pg_url"))


def write_config(tmp_path: Path, url: str, codes: str = 'OP = "deal"') -> str:
    """A config file for the store at ``url``, migrated."""
    path = tmp_path / "mailassist.toml"
    path.write_text(f'[store]\nurl = "{url}"\nblob_dir = "{tmp_path / "blobs"}"\n\n[codes]\n{codes}\n')
    upgraded = CliRunner().invoke(cli, ["--config", str(path), "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    return str(path)


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> str:
    """A config file for a migrated, empty store, with ``[codes] OP = "deal"``."""
    return write_config(tmp_path, db_url)


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


# --- good files ---------------------------------------------------------------------------------------------


def test_good_files_for_every_kind(config: str, db_url: str) -> None:
    assert import_all(config) == [
        f"{CSV / 'users.csv'}: 8 rows: 8 created, 0 updated, 3 new teams (Sprzedaż PL, Prodej CZ, Vânzări RO)",
        f"{CSV / 'clients.csv'}: 5 rows: 5 created, 0 updated",
        f"{CSV / 'contacts.csv'}: 6 rows: 6 created, 0 updated",
        f"{CSV / 'records.csv'}: 5 rows: 5 created, 0 updated",
    ]
    assert counts(db_url) == FULL
    # Addresses are lower-cased, roles too; the primary address is marked.
    assert query(db_url, "SELECT email, role FROM users WHERE name = 'Katarzyna Zielińska'") == [
        ("katarzyna.zielinska@crm.example.com", "own")
    ]
    assert query(db_url, "SELECT address, is_primary FROM user_addresses WHERE address LIKE 'anna%'") == [
        ("anna.nowak@crm.example.com", True),
        ("anna@crm.example.com", False),
    ]
    # A client named in another case is the same client; an empty client is no client.
    assert query(
        db_url, "SELECT contacts.name, clients.name FROM contacts LEFT JOIN clients ON clients.id = client_id"
    ) == [
        ("Elena Georgescu", "Carpați Distribuție SRL"),
        ("Ewa Kamińska", "Acme Logistics"),
        ("Marek Zając", None),
        ("Martin Dvořák", "Škoda Díly s.r.o."),
        ("Tomasz Lewandowski", "Acme Logistics"),
        ("Zbigniew Kowalski", "Transport Kowalski, Sp. z o.o."),
    ]


def test_quoted_cells_with_commas_and_line_breaks(config: str, db_url: str) -> None:
    import_all(config)
    # Codes are stored upper-case; a line break inside a quoted title is layout, not content.
    assert query(db_url, "SELECT code, title FROM records") == [
        ("OP-123", "Fleet renewal 2027"),
        ("OP-124", "Warehouse lease, Poznań"),
        ("OP-200", "Náhradní díly Q3"),
        ("OP-310", "Contract de distribuție 2026–2028"),
        ("OP-311", "Pilot (no client yet)"),
    ]


def test_reimport_updates_and_never_duplicates(config: str, db_url: str) -> None:
    import_all(config)
    assert import_all(config) == [
        f"{CSV / 'users.csv'}: 8 rows: 0 created, 8 updated",
        f"{CSV / 'clients.csv'}: 5 rows: 0 created, 5 updated",
        f"{CSV / 'contacts.csv'}: 6 rows: 0 created, 6 updated",
        f"{CSV / 'records.csv'}: 5 rows: 0 created, 5 updated",
    ]
    assert counts(db_url) == FULL

    # Given an edited users file: Anna's aliases change and give up anna@, which the new user Radu takes.
    assert ok(config, "users", CSV / "users_update.csv") == f"{CSV / 'users_update.csv'}: 4 rows: 1 created, 3 updated"

    assert query(
        db_url,
        "SELECT u.email, a.address FROM user_addresses a JOIN users u ON u.id = a.user_id "
        "WHERE u.email IN ('anna.nowak@crm.example.com', 'radu.dumitrescu@crm.example.com', "
        "'jan.novak@crm.example.com')",
    ) == [
        ("anna.nowak@crm.example.com", "anna.nowak@crm.example.com"),
        ("anna.nowak@crm.example.com", "anna.nz@crm.example.com"),
        ("jan.novak@crm.example.com", "honza@crm.example.com"),
        ("jan.novak@crm.example.com", "jan.novak@crm.example.com"),
        ("jan.novak@crm.example.com", "jan@crm.example.com"),
        ("radu.dumitrescu@crm.example.com", "anna@crm.example.com"),
        ("radu.dumitrescu@crm.example.com", "radu.dumitrescu@crm.example.com"),
    ]
    assert query(
        db_url,
        "SELECT u.name, u.role, t.name FROM users u LEFT JOIN teams t ON t.id = u.team_id WHERE u.email LIKE 'j%'",
    ) == [("Jan Novák", "team", None)]
    assert counts(db_url)["users"] == 9


def test_a_byte_order_mark_is_accepted(config: str, db_url: str) -> None:
    assert ok(config, "users", CSV / "users_bom.csv").endswith("2 rows: 2 created, 0 updated, 1 new team (Sprzedaż PL)")
    assert counts(db_url)["users"] == 2


def test_any_prefix_is_accepted_when_no_codes_are_configured(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url, codes="")
    file = write(tmp_path, "records.csv", "code,type,title,client\nTK-7,ticket,Reklamace,\nop-1,deal,Deal,\n")
    assert ok(config, "records", file).endswith("2 rows: 2 created, 0 updated")
    assert query(db_url, "SELECT code, type FROM records") == [("OP-1", "deal"), ("TK-7", "ticket")]


# --- bad rows -----------------------------------------------------------------------------------------------


def test_bad_users_report_every_row_with_its_line_and_write_nothing(config: str, db_url: str) -> None:
    file = CSV / "users_bad.csv"
    # Line 3 holds a quoted name that runs onto line 4, so the rows after it start one line later.
    assert failed(run(config, "users", file)) == [
        f"{file}:5: email: not an email address: 'not-an-address'",
        f"{file}:6: role: must be one of all, team, own (got 'admin')",
        f"{file}:7: name: required, but empty",
        f"{file}:8: duplicate user 'anna.nowak@crm.example.com' (also on line 2)",
        f"{file}:9: address 'jan@crm.example.com' is also used on line 3",
        f"{file}:10: expected 5 cells (email,name,team,role,aliases), got 6; quote cells with commas",
    ]
    assert counts(db_url) == dict.fromkeys(TABLES, 0)


def test_bad_clients(config: str, db_url: str) -> None:
    import_all(config)
    file = CSV / "clients_bad.csv"
    assert failed(run(config, "clients", file)) == [
        f"{file}:3: domain 'acme-logistics.pl' is also used on line 2",
        f"{file}:4: address 'biuro@acme-logistics.pl' is also used on line 2",
        f"{file}:5: duplicate client 'ACME LOGISTICS' (also on line 2)",
        f"{file}:6: domains: not a domain name: 'brno strojirny.cz'",
        f"{file}:7: expected 3 cells (name,domains,emails), got 4; quote cells with commas",
        f"{file}:8: emails: not an email address: 'not-an-address'",
    ]
    assert counts(db_url) == FULL


def test_bad_contacts(config: str, db_url: str) -> None:
    import_all(config)
    file = CSV / "contacts_bad.csv"
    assert failed(run(config, "contacts", file)) == [
        f"{file}:2: addresses belong to different contacts: 'tomasz.lewandowski@acme-logistics.pl' "
        "(contact 'Tomasz Lewandowski'), 'martin.dvorak@skodadily.cz' (contact 'Martin Dvořák')",
        f"{file}:3: unknown client 'Škoda Díly a.s.' (import clients first)",
        f"{file}:4: emails: at least one address is required",
        f"{file}:7: address 'dana.popa@carpati-distributie.ro' is also used on line 6",
    ]
    assert counts(db_url) == FULL


def test_bad_records(config: str, db_url: str) -> None:
    ok(config, "clients", CSV / "clients.csv")
    file = CSV / "records_bad.csv"
    assert failed(run(config, "records", file)) == [
        f"{file}:4: code: unknown code prefix 'XX'; configured: OP",
        f"{file}:5: type: 'offer' does not match code prefix 'OP', which is 'deal'",
        f"{file}:6: code: 'OP501' is not PREFIX-DIGITS, such as OP-123",
        f"{file}:7: title: required, but empty",
        f"{file}:8: unknown client 'Initech' (import clients first)",
        f"{file}:9: duplicate record 'OP-500' (also on line 2)",
    ]
    assert counts(db_url)["records"] == 0


def test_unknown_clients_must_be_imported_first(config: str, db_url: str) -> None:
    file = CSV / "contacts.csv"
    assert failed(run(config, "contacts", file)) == [
        f"{file}:2: unknown client 'Acme Logistics' (import clients first)",
        f"{file}:3: unknown client 'acme logistics' (import clients first)",
        f"{file}:4: unknown client 'Škoda Díly s.r.o.' (import clients first)",
        f"{file}:5: unknown client 'Carpați Distribuție SRL' (import clients first)",
        f"{file}:7: unknown client 'Transport Kowalski, Sp. z o.o.' (import clients first)",
    ]
    assert counts(db_url)["contacts"] == 0


def test_alias_and_domain_conflicts_with_the_database(config: str, tmp_path: Path, db_url: str) -> None:
    import_all(config)
    users = write(
        tmp_path,
        "users.csv",
        "email,name,team,role,aliases\n"
        "monika.wojcik@crm.example.com,Monika Wójcik,Sprzedaż PL,own,kasia@crm.example.com\n"
        "ioana@crm.example.com,Ioana I.,,own,\n",
    )
    assert failed(run(config, "users", users)) == [
        f"{users}:2: address 'kasia@crm.example.com' already belongs to user 'katarzyna.zielinska@crm.example.com'",
        f"{users}:3: address 'ioana@crm.example.com' already belongs to user 'ioana.ionescu@crm.example.com'",
    ]
    clients = write(tmp_path, "clients.csv", "name,domains,emails\nPraha Trans,praha-trans.cz;SKODADILY.cz,\n")
    assert failed(run(config, "clients", clients)) == [
        f"{clients}:2: domain 'skodadily.cz' already belongs to client 'Škoda Díly s.r.o.'"
    ]
    assert counts(db_url) == FULL


def test_a_row_spanning_lines_is_reported_at_its_first_line(config: str, tmp_path: Path) -> None:
    file = write(
        tmp_path,
        "users.csv",
        'email,name,team,role,aliases\r\nanna@crm.example.com,"Anna\r\nNowak",,boss,\r\n'
        'petr@crm.example.com,"Petr, ""Péťa"" Malý",,all,x@\r\n',
    )
    assert failed(run(config, "users", file)) == [
        f"{file}:2: role: must be one of all, team, own (got 'boss')",
        f"{file}:4: aliases: not an email address: 'x@'",
    ]


def test_more_than_fifty_problems_are_counted_not_listed(config: str, tmp_path: Path) -> None:
    rows = "".join(f"user{i}@,User {i},,all,\n" for i in range(60))
    lines = failed(run(config, "users", write(tmp_path, "users.csv", "email,name,team,role,aliases\n" + rows)))
    assert len(lines) == 51
    assert lines[0].endswith("users.csv:2: email: not an email address: 'user0@'")
    assert lines[-1] == "… and 10 more"


# --- the file as a whole ------------------------------------------------------------------------------------


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
                "1: unknown column 'extra'; allowed: email, name, team, role, aliases",
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


def test_columns_may_come_in_any_order(config: str, tmp_path: Path, db_url: str) -> None:
    file = write(tmp_path, "users.csv", "Role, Aliases ,Email,Team,Name\nown,,ana.popa@crm.example.com,,Ana Popa\n")
    assert ok(config, "users", file).endswith("1 row: 1 created, 0 updated")
    assert query(db_url, "SELECT email, name, role FROM users") == [("ana.popa@crm.example.com", "Ana Popa", "own")]


# --- dry run ------------------------------------------------------------------------------------------------


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


# --- big files ----------------------------------------------------------------------------------------------


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
