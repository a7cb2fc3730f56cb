"""``mailassist import`` of good CSV files: every kind, quoting, re-imports that update, any column order."""

from __future__ import annotations

from pathlib import Path

from tests.mailassist.csv_import.support import CSV, FULL, counts, import_all, ok, query, write, write_config


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


def test_columns_may_come_in_any_order(config: str, tmp_path: Path, db_url: str) -> None:
    file = write(tmp_path, "users.csv", "Role, Aliases ,Email,Team,Name\nown,,ana.popa@crm.example.com,,Ana Popa\n")
    assert ok(config, "users", file).endswith("1 row: 1 created, 0 updated")
    assert query(db_url, "SELECT email, name, role FROM users") == [("ana.popa@crm.example.com", "Ana Popa", "own")]
