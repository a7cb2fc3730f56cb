"""Directory verbs on SQLite and PostgreSQL: bulk import by natural key, all or nothing, and address lookups."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from store import Store
from store.errors import ImportConflictError
from store.models import Base, Client, ClientDomain, ClientEmail, Contact, ContactEmail, Record, Team, User, UserAddress
from store.shapes import ClientRow, ContactRow, ImportResult, RecordRow, UserRow

ANNA = UserRow(
    line=2,
    email="anna.nowak@crm.example.com",
    name="Anna Nowak",
    team="Sprzedaż PL",
    role="all",
    aliases=("anna@crm.example.com",),
)
JAN = UserRow(line=3, email="jan.novak@crm.example.com", name="Jan Novák", team="Prodej CZ", role="team")
IOANA = UserRow(line=4, email="ioana.ionescu@crm.example.com", name="Ioana Ionescu", team=None, role="own")
ACME = ClientRow(
    line=2,
    name="Acme Logistics",
    domains=("acme-logistics.pl", "acme-logistics.com"),
    emails=("biuro@acme-logistics.pl",),
)
SKODA = ClientRow(line=3, name="Škoda Díly s.r.o.", domains=("skodadily.cz",))


def count(store: Store, model: type[Base]) -> int:
    with Session(store.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def column(store: Store, attribute: InstrumentedAttribute[Any]) -> list[Any]:
    with Session(store.engine) as session:
        return sorted(session.scalars(select(attribute)))


def problems(exc: pytest.ExceptionInfo[ImportConflictError]) -> list[tuple[int, str]]:
    return list(exc.value.problems)


# --- users ------------------------------------------------------------------------------------------------------


def test_users_are_created_with_teams_and_addresses(store: Store) -> None:
    result = store.directory.apply_users([ANNA, JAN, IOANA])

    assert result == ImportResult(created=3, updated=0, new_teams=("Sprzedaż PL", "Prodej CZ"))
    found = store.directory.find_users_by_addresses(
        ["ANNA@crm.example.com", "jan.novak@crm.example.com", "x@example.com"]
    )
    assert set(found) == {"anna@crm.example.com", "jan.novak@crm.example.com"}
    assert found["anna@crm.example.com"].email == ANNA.email
    assert found["anna@crm.example.com"].team == "Sprzedaż PL"
    assert store.directory.find_users_by_addresses([IOANA.email])[IOANA.email].team is None
    with Session(store.engine) as session:
        flags = dict(session.execute(select(UserAddress.address, UserAddress.is_primary)).all())
    assert flags == {ANNA.email: True, "anna@crm.example.com": False, JAN.email: True, IOANA.email: True}


def test_reimport_updates_in_place_and_replaces_aliases(store: Store) -> None:
    store.directory.apply_users([ANNA, JAN])
    again = UserRow(
        line=2,
        email=ANNA.email,
        name="Anna Nowak-Zielińska",
        team="sprzedaż pl",
        role="team",
        aliases=("an@crm.example.com",),
    )

    result = store.directory.apply_users([again, JAN])

    assert result == ImportResult(created=0, updated=2)
    assert count(store, User) == 2
    assert count(store, Team) == 2
    assert column(store, UserAddress.address) == sorted([ANNA.email, "an@crm.example.com", JAN.email])
    anna = store.directory.find_users_by_addresses(["an@crm.example.com"])["an@crm.example.com"]
    assert (anna.name, anna.role, anna.team) == ("Anna Nowak-Zielińska", "team", "Sprzedaż PL")


def test_alias_owned_by_another_user_is_a_conflict_and_nothing_is_written(store: Store) -> None:
    store.directory.apply_users([ANNA])
    thief = UserRow(
        line=7,
        email="piotr@crm.example.com",
        name="Piotr",
        team="Nowy zespół",
        role="own",
        aliases=("anna@crm.example.com",),
    )

    with pytest.raises(ImportConflictError) as exc:
        store.directory.apply_users([JAN, thief])

    assert problems(exc) == [(7, "address 'anna@crm.example.com' already belongs to user 'anna.nowak@crm.example.com'")]
    assert count(store, User) == 1
    assert count(store, Team) == 1


def test_primary_email_that_is_another_users_alias_is_a_conflict(store: Store) -> None:
    store.directory.apply_users([ANNA])
    with pytest.raises(ImportConflictError) as exc:
        store.directory.apply_users(
            [UserRow(line=2, email="anna@crm.example.com", name="Anna 2", team=None, role="own")]
        )
    assert problems(exc) == [(2, "address 'anna@crm.example.com' already belongs to user 'anna.nowak@crm.example.com'")]


def test_an_alias_moves_when_its_old_owner_gives_it_up_in_the_same_batch(store: Store) -> None:
    store.directory.apply_users([ANNA, JAN])
    anna_without_alias = UserRow(line=2, email=ANNA.email, name=ANNA.name, team=ANNA.team, role=ANNA.role)
    jan_with_it = UserRow(
        line=3, email=JAN.email, name=JAN.name, team=JAN.team, role=JAN.role, aliases=("anna@crm.example.com",)
    )

    store.directory.apply_users([jan_with_it, anna_without_alias])

    assert store.directory.find_users_by_addresses(["anna@crm.example.com"])["anna@crm.example.com"].email == JAN.email


def test_every_problem_in_a_batch_is_reported(store: Store) -> None:
    rows = [
        ANNA,
        UserRow(line=3, email=ANNA.email, name="Anna again", team=None, role="all"),
        UserRow(
            line=4, email="jan@crm.example.com", name="Jan", team=None, role="all", aliases=("anna@crm.example.com",)
        ),
        UserRow(line=5, email="x@crm.example.com", name="X" * 201, team=None, role="boss"),
    ]
    with pytest.raises(ImportConflictError) as exc:
        store.directory.apply_users(rows)
    assert problems(exc) == [
        (3, "duplicate user 'anna.nowak@crm.example.com' (also on line 2)"),
        (4, "address 'anna@crm.example.com' is also used on line 2"),
        (5, "name is longer than 200 characters"),
        (5, "role must be one of all, team, own, not 'boss'"),
    ]
    assert count(store, User) == 0


def test_dry_run_counts_but_writes_nothing(store: Store) -> None:
    store.directory.apply_users([JAN])
    result = store.directory.apply_users([ANNA, JAN], dry_run=True)
    assert result == ImportResult(created=1, updated=1, new_teams=("Sprzedaż PL",))
    assert column(store, User.email) == [JAN.email]
    assert column(store, Team.name) == ["Prodej CZ"]


def test_batches_larger_than_one_query_chunk(store: Store) -> None:
    rows = [
        UserRow(
            line=i + 2,
            email=f"user{i}@crm.example.com",
            name=f"User {i}",
            team=f"Team {i % 3}",
            role="own",
            aliases=(f"u{i}@crm.example.com",),
        )
        for i in range(1_200)
    ]
    assert store.directory.apply_users(rows) == ImportResult(
        created=1_200, updated=0, new_teams=("Team 0", "Team 1", "Team 2")
    )
    assert store.directory.apply_users(rows) == ImportResult(created=0, updated=1_200)
    assert count(store, User) == 1_200
    assert count(store, UserAddress) == 2_400
    clash = UserRow(
        line=9_999, email="new@crm.example.com", name="New", team=None, role="own", aliases=("u1100@crm.example.com",)
    )
    with pytest.raises(ImportConflictError) as exc:
        store.directory.apply_users([clash])
    assert problems(exc) == [
        (9_999, "address 'u1100@crm.example.com' already belongs to user 'user1100@crm.example.com'")
    ]


# --- clients ----------------------------------------------------------------------------------------------------


def test_clients_match_by_name_case_insensitively_and_keep_the_latest_spelling(store: Store) -> None:
    assert store.directory.apply_clients([ACME, SKODA]) == ImportResult(created=2, updated=0)
    renamed = ClientRow(
        line=2, name="ACME Logistics", domains=("acme-logistics.pl",), emails=("office@acme-logistics.pl",)
    )

    assert store.directory.apply_clients([renamed]) == ImportResult(created=0, updated=1)

    assert column(store, Client.name) == ["ACME Logistics", "Škoda Díly s.r.o."]
    assert column(store, ClientDomain.domain) == ["acme-logistics.pl", "skodadily.cz"]
    assert column(store, ClientEmail.address) == ["office@acme-logistics.pl"]


def test_a_domain_of_another_client_is_a_conflict(store: Store) -> None:
    store.directory.apply_clients([ACME, SKODA])
    grabby = ClientRow(
        line=4, name="Initech Polska", domains=("initech.pl", "skodadily.cz"), emails=("biuro@acme-logistics.pl",)
    )
    with pytest.raises(ImportConflictError) as exc:
        store.directory.apply_clients([grabby])
    assert problems(exc) == [
        (4, "domain 'skodadily.cz' already belongs to client 'Škoda Díly s.r.o.'"),
        (4, "address 'biuro@acme-logistics.pl' already belongs to client 'Acme Logistics'"),
    ]
    assert count(store, Client) == 2


def test_duplicate_client_names_in_one_batch(store: Store) -> None:
    with pytest.raises(ImportConflictError) as exc:
        store.directory.apply_clients([ACME, ClientRow(line=9, name="acme logistics")])
    assert problems(exc) == [(9, "duplicate client 'acme logistics' (also on line 2)")]


# --- contacts ---------------------------------------------------------------------------------------------------


def test_contacts_are_updated_through_any_of_their_addresses(store: Store) -> None:
    store.directory.apply_clients([ACME, SKODA])
    ewa = ContactRow(
        line=2,
        name="Ewa Kamińska",
        emails=("ewa.kaminska@acme-logistics.pl", "ewa.k@gmail.com"),
        client="acme logistics",
    )
    marek = ContactRow(line=3, name="Marek Zając", emails=("marek.zajac@gmail.com",))
    assert store.directory.apply_contacts([ewa, marek]) == ImportResult(created=2, updated=0)

    moved = ContactRow(
        line=2, name="Ewa Kamińska", emails=("ewa.k@gmail.com", "ewa@skodadily.cz"), client="Škoda Díly s.r.o."
    )
    assert store.directory.apply_contacts([moved]) == ImportResult(created=0, updated=1)

    assert count(store, Contact) == 2
    assert column(store, ContactEmail.address) == ["ewa.k@gmail.com", "ewa@skodadily.cz", "marek.zajac@gmail.com"]
    with Session(store.engine) as session:
        clients = dict(session.execute(select(Contact.name, Client.name).outerjoin(Client)).all())
    assert clients == {"Ewa Kamińska": "Škoda Díly s.r.o.", "Marek Zając": None}


def test_contact_rows_that_join_two_contacts_or_name_unknown_clients_are_refused(store: Store) -> None:
    store.directory.apply_clients([ACME])
    store.directory.apply_contacts(
        [
            ContactRow(line=2, name="Tomasz Lewandowski", emails=("tomasz@acme-logistics.pl",)),
            ContactRow(line=3, name="Martin Dvořák", emails=("martin@skodadily.cz",)),
        ]
    )
    rows = [
        ContactRow(line=2, name="Both", emails=("tomasz@acme-logistics.pl", "martin@skodadily.cz")),
        ContactRow(line=3, name="Lucie", emails=("lucie@skodadily.cz",), client="Škoda Díly s.r.o."),
        ContactRow(line=4, name="Nobody", emails=()),
        ContactRow(line=5, name="Tomasz L.", emails=("tomasz@acme-logistics.pl",)),
        ContactRow(line=6, name="Also Martin", emails=("martin@skodadily.cz", "m.d@gmail.com")),
        ContactRow(line=7, name="Martin (again)", emails=("m.d2@gmail.com", "martin@skodadily.cz")),
    ]
    with pytest.raises(ImportConflictError) as exc:
        store.directory.apply_contacts(rows)
    assert problems(exc) == [
        (
            2,
            "addresses belong to different contacts: 'tomasz@acme-logistics.pl' (contact 'Tomasz Lewandowski'), "
            "'martin@skodadily.cz' (contact 'Martin Dvořák')",
        ),
        (3, "unknown client 'Škoda Díly s.r.o.' (import clients first)"),
        (4, "a contact needs at least one email address"),
        (5, "address 'tomasz@acme-logistics.pl' is also used on line 2"),
        (6, "address 'martin@skodadily.cz' is also used on line 2"),
        (7, "address 'martin@skodadily.cz' is also used on line 2"),
    ]
    assert count(store, Contact) == 2


def test_two_rows_reaching_one_contact_through_different_addresses(store: Store) -> None:
    store.directory.apply_contacts(
        [ContactRow(line=2, name="Elena Georgescu", emails=("elena@carpati.ro", "elena.g@gmail.com"))]
    )
    rows = [
        ContactRow(line=2, name="Elena Georgescu", emails=("elena@carpati.ro",)),
        ContactRow(line=3, name="Elena G.", emails=("elena.g@gmail.com",)),
    ]
    with pytest.raises(ImportConflictError) as exc:
        store.directory.apply_contacts(rows)
    assert problems(exc) == [(3, "updates the same contact as line 2 ('elena.g@gmail.com')")]


# --- records ----------------------------------------------------------------------------------------------------


def test_records_by_code_case_insensitively_stored_upper_case(store: Store) -> None:
    store.directory.apply_clients([ACME])
    first = RecordRow(line=2, code="op-123", type="deal", title="Fleet renewal 2027", client="Acme Logistics")
    assert store.directory.apply_records(
        [first, RecordRow(line=3, code="OP-124", type="deal", title="Pilot")]
    ) == ImportResult(2, 0)

    retitled = RecordRow(line=2, code="OP-123", type="deal", title="Fleet renewal 2027 to 2029")
    assert store.directory.apply_records([retitled]) == ImportResult(created=0, updated=1)

    assert column(store, Record.code) == ["OP-123", "OP-124"]
    with Session(store.engine) as session:
        row = session.execute(select(Record.title, Record.client_id).where(Record.code == "OP-123")).one()
    assert tuple(row) == ("Fleet renewal 2027 to 2029", None)


def test_record_problems(store: Store) -> None:
    rows = [
        RecordRow(line=2, code="OP-1", type="deal", title="One", client="Initech"),
        RecordRow(line=3, code="op-1", type="deal", title="One again"),
    ]
    with pytest.raises(ImportConflictError) as exc:
        store.directory.apply_records(rows)
    assert problems(exc) == [
        (2, "unknown client 'Initech' (import clients first)"),
        (3, "duplicate record 'OP-1' (also on line 2)"),
    ]
    assert count(store, Record) == 0
