"""The users file's optional ``time_zone`` column: a zone sets the user's, an empty cell clears it, a file without
the column leaves every zone as it was, and a name that is no zone fails the whole file with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import Store
from store.shapes import UserRow
from tests.mailassist.csv_import.support import failed, ok, query, run, write

HEADER = "email,name,team,role,aliases,time_zone\n"


def _zones(db_url: str) -> dict[str, str | None]:
    return dict(query(db_url, "SELECT email, time_zone FROM users"))


def test_a_zone_is_set_cleared_or_left_as_the_file_says(config: str, db_url: str, tmp_path: Path) -> None:
    # Given users imported with their zones (one without)
    first = write(
        tmp_path,
        "users.csv",
        HEADER + "anna@crm.example.com,Anna,PL,all,,Europe/Warsaw\n"
        "jan@crm.example.com,Jan,CZ,own,, Europe/Prague \n"
        "ioana@crm.example.com,Ioana,RO,own,,\n",
    )
    assert ok(config, "users", first).endswith("3 rows: 3 created, 0 updated, 3 new teams (PL, CZ, RO)")
    assert _zones(db_url) == {
        "anna@crm.example.com": "Europe/Warsaw",
        "jan@crm.example.com": "Europe/Prague",
        "ioana@crm.example.com": None,
    }

    # When a file without the column is imported (the older format): every zone stays
    old_format = write(tmp_path, "old.csv", "email,name,team,role,aliases\nanna@crm.example.com,Anna N.,PL,all,\n")
    assert ok(config, "users", old_format).endswith("1 row: 0 created, 1 updated")
    assert _zones(db_url)["anna@crm.example.com"] == "Europe/Warsaw"
    assert query(db_url, "SELECT name FROM users WHERE email = 'anna@crm.example.com'") == [("Anna N.",)]

    # When the column is there: an empty cell clears the zone (as an empty team clears the team), a name sets it
    edit = write(
        tmp_path,
        "edit.csv",
        "time_zone,email,name,team,role,aliases\n,anna@crm.example.com,Anna N.,PL,all,\n"
        "Asia/Kolkata,ioana@crm.example.com,Ioana,RO,own,\n",
    )
    assert ok(config, "users", edit).endswith("2 rows: 0 created, 2 updated")
    assert _zones(db_url) == {
        "anna@crm.example.com": None,
        "jan@crm.example.com": "Europe/Prague",
        "ioana@crm.example.com": "Asia/Kolkata",
    }


def test_a_name_that_is_no_zone_fails_the_file_with_its_line_and_value(
    config: str, db_url: str, tmp_path: Path
) -> None:
    ok(config, "users", write(tmp_path, "a.csv", HEADER + "anna@crm.example.com,Anna,,all,,Europe/Warsaw\n"))
    file = write(
        tmp_path,
        "users.csv",
        HEADER + "anna@crm.example.com,Anna,,all,,Asia/Tokyo\n"
        "jan@crm.example.com,Jan,,own,,Europe/Warszawa\n"
        "petr@crm.example.com,Petr,,own,,CEST\n"
        "eva@crm.example.com,Eva,,own,,europe/prague\n"
        "ola@crm.example.com,Ola,,own,,../../etc/passwd\n",
    )
    hint = "is not a time zone; use an IANA name such as Europe/Warsaw or America/New_York"
    assert failed(run(config, "users", file)) == [
        f"{file}:3: time_zone: 'Europe/Warszawa' {hint}",
        f"{file}:4: time_zone: 'CEST' {hint}",
        f"{file}:5: time_zone: 'europe/prague' {hint}",
        f"{file}:6: time_zone: '../../etc/passwd' {hint}",
    ]
    # Nothing half-imported: Anna's good row did not change her zone, nobody new came in
    assert _zones(db_url) == {"anna@crm.example.com": "Europe/Warsaw"}


def test_the_header_names_the_optional_column_among_the_allowed(config: str, tmp_path: Path) -> None:
    file = write(tmp_path, "users.csv", "email,name,team,role,aliases,timezone\n")
    assert failed(run(config, "users", file)) == [
        f"{file}:1: unknown column 'timezone'; allowed: email, name, team, role, aliases, time_zone"
    ]
    semicolons = write(tmp_path, "semi.csv", "email;name;team;role;aliases;time_zone\n")
    assert failed(run(config, "users", semicolons)) == [
        f"{semicolons}:1: columns are separated by ';'; save the file with ',' between them: "
        "email,name,team,role,aliases"
    ]


def test_rows_that_set_a_zone_and_rows_that_leave_it_apply_together(db_url: str, tmp_path: Path) -> None:
    """The sync API takes rows with and without ``time_zone`` in one batch: new and existing users of both kinds
    are written in one bulk insert and one bulk update."""
    store = Store(db_url, tmp_path / "blobs")
    store.open(upgrade=True)
    try:
        store.directory.apply_users(
            [
                UserRow(2, "a@crm.example.com", "A", None, "own", time_zone="Europe/Warsaw", sets_time_zone=True),
                UserRow(3, "b@crm.example.com", "B", None, "own", time_zone="Asia/Tokyo", sets_time_zone=True),
            ]
        )
        result = store.directory.apply_users(
            [
                UserRow(2, "a@crm.example.com", "A2", None, "own"),
                UserRow(3, "b@crm.example.com", "B", None, "own", time_zone="Asia/Kathmandu", sets_time_zone=True),
                UserRow(4, "c@crm.example.com", "C", None, "own"),
                UserRow(5, "d@crm.example.com", "D", None, "own", time_zone="Europe/Prague", sets_time_zone=True),
            ]
        )
    finally:
        store.close()
    assert (result.created, result.updated) == (2, 2)
    assert query(db_url, "SELECT email, name, time_zone FROM users") == [
        ("a@crm.example.com", "A2", "Europe/Warsaw"),
        ("b@crm.example.com", "B", "Asia/Kathmandu"),
        ("c@crm.example.com", "C", None),
        ("d@crm.example.com", "D", "Europe/Prague"),
    ]


def test_a_row_that_names_a_zone_it_does_not_set_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="sets_time_zone is False"):
        UserRow(2, "a@crm.example.com", "A", None, "own", time_zone="Europe/Warsaw")
