"""``mailassist import`` of bad rows: every problem reported with its line, and nothing written."""

from __future__ import annotations

from pathlib import Path

from tests.mailassist.csv_import.support import CSV, FULL, TABLES, counts, failed, import_all, ok, run, write


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
