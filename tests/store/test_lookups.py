"""Directory lookups the linker makes per message: the right rows, nothing unrelated, and a constant query count."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from store import ContactRef, EntityRef, LeadRef, RecordRef, Store
from store.models import Lead, Link, Message, Participant
from store.shapes import ClientRow, ContactRow, RecordRow, UserRow
from tests.conftest import engine_events

ACME = ClientRow(line=2, name="Acme Logistics", domains=("acme-logistics.pl",), emails=("biuro@acme-logistics.pl",))
SKODA = ClientRow(line=3, name="Škoda Díly s.r.o.", domains=("skodadily.cz", "xn--dly-xla.cz"))
PIOTR = ContactRow(line=2, name="Piotr Zieliński", emails=("piotr@acme-logistics.pl", "pz@gmail.com"), client=ACME.name)
PETRA = ContactRow(line=3, name="Petra Dvořáková", emails=("petra@skodadily.cz",), client=SKODA.name)
LONER = ContactRow(line=4, name="Free Lancer", emails=("freelancer@seznam.cz",))
DEAL = RecordRow(line=2, code="op-123", type="deal", title="Fleet renewal 2027", client=ACME.name)
OFFER = RecordRow(line=3, code="OF-7", type="offer", title="Spare parts")


@pytest.fixture
def filled(store: Store) -> Store:
    store.directory.apply_clients([ACME, SKODA])
    store.directory.apply_contacts([PIOTR, PETRA, LONER])
    store.directory.apply_records([DEAL, OFFER])
    return store


def statements(store: Store) -> AbstractContextManager[list[tuple[str, Any]]]:
    """Every SQL statement sent to the database inside the block, with its parameters."""
    return engine_events(
        store, "before_cursor_execute", lambda _conn, _cursor, statement, parameters, *_: (statement, parameters)
    )


def client_id(store: Store, name: str) -> int:
    domain = {ACME.name: "acme-logistics.pl", SKODA.name: "skodadily.cz"}[name]
    return store.directory.find_people([f"someone@{domain}"]).client_domains[domain].id


def add_lead(store: Store, address: str, *, name: str | None = None, converted: int | None = None) -> int:
    with Session(store.engine) as session, session.begin():
        values = {"address": address, "name": name, "company": None, "converted_contact_id": converted}
        return session.execute(insert(Lead).values(values).returning(Lead.id)).scalar_one()


def add_message(
    store: Store,
    header: str | None,
    *,
    records: tuple[int, ...] = (),
    clients: tuple[int, ...] = (),
    key: str | None = None,
    submitter: int | None = None,
    participants: tuple[tuple[str, str], ...] = (),
) -> int:
    with Session(store.engine) as session, session.begin():
        values = {
            "dedupe_key": key or header or "hash",
            "message_id_header": header,
            "direction": "outgoing",
            "kind": "bcc",
            "raw_sha256": "0" * 64,
            "submitter_user_id": submitter,
        }
        mid = session.execute(insert(Message).values(values).returning(Message.id)).scalar_one()
        for rid in records:
            session.execute(insert(Link).values(message_id=mid, entity_type="record", entity_id=rid, reason="code"))
        for cid in clients:
            session.execute(insert(Link).values(message_id=mid, entity_type="client", entity_id=cid, reason="domain"))
        for address, role in participants:
            session.execute(insert(Participant).values(message_id=mid, address=address, role=role, internal=True))
        return mid


# --- what each lookup returns ---------------------------------------------------------------------------------


def test_contacts_by_address_with_their_client(filled: Store) -> None:
    found = filled.directory.find_people(
        ["PZ@gmail.com", "petra@skodadily.cz", "freelancer@seznam.cz", "biuro@acme-logistics.pl", "nobody@x.test"]
    ).contacts

    assert set(found) == {"pz@gmail.com", "petra@skodadily.cz", "freelancer@seznam.cz"}
    piotr = found["pz@gmail.com"]
    assert piotr == ContactRef(
        id=piotr.id, name=PIOTR.name, client_id=client_id(filled, ACME.name), client_name=ACME.name
    )
    assert found["petra@skodadily.cz"].client_name == SKODA.name
    assert (found["freelancer@seznam.cz"].client_id, found["freelancer@seznam.cz"].client_name) == (None, None)
    assert filled.directory.find_people([]).contacts == {}


def test_client_by_one_of_its_own_addresses_only(filled: Store) -> None:
    found = filled.directory.find_people(
        ["biuro@acme-logistics.pl", "piotr@acme-logistics.pl", "petra@skodadily.cz"]
    ).client_emails

    assert found == {"biuro@acme-logistics.pl": EntityRef(id=client_id(filled, ACME.name), label=ACME.name)}


def test_clients_by_domain(filled: Store) -> None:
    found = filled.directory.find_people(
        [f"someone@{d}" for d in ("acme-logistics.pl", "xn--dly-xla.cz", "gmail.com", "logistics.pl")]
    ).client_domains

    assert found == {
        "acme-logistics.pl": EntityRef(id=client_id(filled, ACME.name), label=ACME.name),
        "xn--dly-xla.cz": EntityRef(id=client_id(filled, SKODA.name), label=SKODA.name),
    }


def test_leads_by_address_converted_or_not(filled: Store) -> None:
    open_lead = add_lead(filled, "nowak@gmail.com", name="Jan Nowak")
    contact = filled.directory.find_people(["pz@gmail.com"]).contacts["pz@gmail.com"].id
    converted = add_lead(filled, "pz@gmail.com", converted=contact)
    add_lead(filled, "other@gmail.com")

    found = filled.directory.find_people(["nowak@gmail.com", "pz@gmail.com", "piotr@acme-logistics.pl"]).leads

    assert found == {
        "nowak@gmail.com": LeadRef(
            id=open_lead, address="nowak@gmail.com", name="Jan Nowak", company=None, converted_contact_id=None
        ),
        "pz@gmail.com": LeadRef(
            id=converted, address="pz@gmail.com", name=None, company=None, converted_contact_id=contact
        ),
    }


def test_people_in_one_query(filled: Store) -> None:
    contact = filled.directory.find_people(["pz@gmail.com"]).contacts["pz@gmail.com"].id
    add_lead(filled, "nowak@gmail.com", name="Jan Nowak")
    add_lead(filled, "pz@gmail.com", converted=contact)
    # Given a message's addresses: contacts, a client's own address, leads, a client's domain, unknowns
    addresses = [
        "pz@gmail.com",
        "Petra@SkodaDily.cz",
        "biuro@acme-logistics.pl",
        "nowak@gmail.com",
        "someone.new@xn--dly-xla.cz",
        "nobody@x.test",
    ]
    # When the linker asks about them all at once
    with statements(filled) as seen:
        people = filled.directory.find_people(addresses)
    # Then it gets contacts, client addresses, leads and client domains, lower-cased, from one query
    assert len(seen) == 1
    assert set(people.contacts) == {"pz@gmail.com", "petra@skodadily.cz"}
    assert set(people.client_emails) == {"biuro@acme-logistics.pl"}
    assert set(people.leads) == {"nowak@gmail.com", "pz@gmail.com"}
    assert people.leads["pz@gmail.com"].converted_contact_id == contact
    assert set(people.client_domains) == {"skodadily.cz", "acme-logistics.pl", "xn--dly-xla.cz"}


def test_people_one_query_per_500_addresses(store: Store) -> None:
    keys = many(store, 600)
    mixed = [k for i in range(300) for k in (keys["contacts"][i], keys["leads"][i])] + keys["client_emails"][300:400]

    with statements(store) as seen:
        people = store.directory.find_people(mixed)
    assert len(seen) == 2
    assert (len(people.contacts), len(people.leads), len(people.client_emails)) == (300, 300, 100)
    assert len(people.client_domains) == 400  # c0-c399.test: the contacts' and client addresses' domains

    with statements(store) as seen:
        store.directory.find_people([])
    assert seen == []


def test_records_by_code_upper_cased(filled: Store) -> None:
    found = filled.directory.find_records_by_codes(["op-123", "OF-7", "OP-999"])

    assert set(found) == {"OP-123", "OF-7"}
    deal = found["OP-123"]
    assert deal == RecordRef(
        id=deal.id,
        code="OP-123",
        type="deal",
        title=DEAL.title,
        client_id=client_id(filled, ACME.name),
        client_name=ACME.name,
    )
    assert (found["OF-7"].client_id, found["OF-7"].client_name) == (None, None)


def test_thread_links_come_from_filed_messages_only(filled: Store) -> None:
    filled.directory.apply_users([UserRow(line=2, email="admin@example.com", name="Admin", team=None, role="all")])
    admin = filled.directory.find_users_by_addresses(["admin@example.com"])["admin@example.com"].id
    codes = filled.directory.find_records_by_codes(["OP-123", "OF-7"])
    deal, offer = codes["OP-123"], codes["OF-7"]
    acme = client_id(filled, ACME.name)
    first = add_message(filled, "first@acme-logistics.pl", records=(deal.id,), clients=(acme,))
    second = add_message(filled, "second@acme-logistics.pl", records=(deal.id, offer.id))
    add_message(filled, "elsewhere@acme-logistics.pl", records=(offer.id,))
    # A link of another kind (a lead, a user) is not inherited, even when its id equals a record's.
    lead_only = add_message(filled, "lead-only@x.test")
    with Session(filled.engine) as session, session.begin():
        for kind in ("lead", "user"):
            values = {"message_id": lead_only, "entity_type": kind, "entity_id": offer.id, "reason": "new-lead"}
            session.execute(insert(Link).values(values))

    found = filled.directory.find_thread_links(
        ["first@acme-logistics.pl", "second@acme-logistics.pl", "gone@x.test"], user_id=admin, limit=50
    )
    assert [(f.message_id, f.message_id_header, f.entity_type, f.entity_id, f.label) for f in found] == [
        (first, "first@acme-logistics.pl", "client", acme, ACME.name),
        (first, "first@acme-logistics.pl", "record", deal.id, "OP-123"),
        (second, "second@acme-logistics.pl", "record", deal.id, "OP-123"),
        (second, "second@acme-logistics.pl", "record", offer.id, "OF-7"),
    ]
    assert (
        len(
            filled.directory.find_thread_links(
                ["first@acme-logistics.pl", "second@acme-logistics.pl"], user_id=admin, limit=3
            )
        )
        == 3
    )
    assert filled.directory.find_thread_links(["lead-only@x.test", "unknown@x.test"], user_id=admin, limit=50) == []
    assert filled.directory.find_thread_links([], user_id=admin, limit=50) == []
    # An unknown user sees nothing, so inherits nothing
    assert filled.directory.find_thread_links(["first@acme-logistics.pl"], user_id=admin + 100, limit=50) == []


def test_thread_links_only_from_messages_the_user_may_see(filled: Store) -> None:
    filled.directory.apply_users(
        [
            UserRow(line=2, email="anna@example.com", name="Anna", team="PL", role="own", aliases=("a.n@example.com",)),
            UserRow(line=3, email="ola@example.com", name="Ola", team="PL", role="team"),
            UserRow(line=4, email="petr@example.com", name="Petr", team="CZ", role="own"),
            UserRow(line=5, email="eva@example.com", name="Eva", team="CZ", role="team"),
        ]
    )
    users = filled.directory.find_users_by_addresses(
        ["anna@example.com", "ola@example.com", "petr@example.com", "eva@example.com"]
    )
    anna, ola, petr, eva = (users[f"{n}@example.com"].id for n in ("anna", "ola", "petr", "eva"))
    acme = client_id(filled, ACME.name)
    # Given one message Anna submitted, and one Anna only received (at her alias), both on Acme
    submitted = add_message(filled, "submitted@x.test", clients=(acme,), submitter=anna)
    received = add_message(filled, "received@x.test", clients=(acme,), participants=(("a.n@example.com", "to"),))
    # A quoted colleague deep in a chain does not make a message theirs
    add_message(filled, "quoted@x.test", clients=(acme,), participants=(("petr@example.com", "chain"),))
    keys = ["submitted@x.test", "received@x.test", "quoted@x.test"]

    def seen(user_id: int) -> set[int]:
        return {f.message_id for f in filled.directory.find_thread_links(keys, user_id=user_id, limit=50)}

    assert seen(anna) == {submitted, received}  # her own
    assert seen(ola) == {submitted, received}  # her team's
    assert seen(petr) == set()  # another team, role own
    assert seen(eva) == set()  # another team, role team


# --- query counts: one per call (per 500 keys), whatever the number of keys and rows ---------------------------

#: Each kind of row, found by the linker's lookups: ``find_people`` (one statement, four kinds) and records by code.
LOOKUPS: dict[str, Callable[[Store, list[str]], object]] = {
    "contacts": lambda s, keys: s.directory.find_people(keys).contacts,
    "client_emails": lambda s, keys: s.directory.find_people(keys).client_emails,
    "leads": lambda s, keys: s.directory.find_people(keys).leads,
    "domains": lambda s, keys: s.directory.find_people([f"someone@{k}" for k in keys]).client_domains,
    "records": lambda s, keys: s.directory.find_records_by_codes(keys),
}


#: The index each lookup finds its keys by.
KEY_INDEX = {
    "contacts": "uq_contact_emails_address",
    "client_emails": "uq_client_emails_address",
    "leads": "uq_leads_address",
    "domains": "uq_client_domains_domain",
    "records": "uq_records_code",
}


def many(store: Store, n: int) -> dict[str, list[str]]:
    """``n`` rows of every kind, each findable; the keys that find them, per lookup."""
    clients = [
        ClientRow(line=i, name=f"Client {i}", domains=(f"c{i}.test",), emails=(f"office@c{i}.test",)) for i in range(n)
    ]
    store.directory.apply_clients(clients)
    store.directory.apply_contacts(
        [ContactRow(line=i, name=f"P {i}", emails=(f"p{i}@c{i}.test",), client=f"Client {i}") for i in range(n)]
    )
    store.directory.apply_records(
        [RecordRow(line=i, code=f"OP-{i}", type="deal", title="t", client=f"Client {i}") for i in range(n)]
    )
    records = store.directory.find_records_by_codes([f"OP-{i}" for i in range(n)])
    with Session(store.engine) as session, session.begin():
        session.execute(insert(Lead), [{"address": f"lead{i}@l.test"} for i in range(n)])
        session.execute(
            insert(Message),
            [
                {
                    "dedupe_key": f"<m{i}@x>",
                    "message_id_header": f"<m{i}@x>",
                    "direction": "o",
                    "kind": "bcc",
                    "raw_sha256": "0",
                }
                for i in range(n)
            ],
        )
        ids: dict[str, int] = {key: mid for key, mid in session.execute(select(Message.dedupe_key, Message.id))}
        session.execute(
            insert(Link),
            [
                {
                    "message_id": ids[f"<m{i}@x>"],
                    "entity_type": "record",
                    "entity_id": records[f"OP-{i}"].id,
                    "reason": "code",
                }
                for i in range(n)
            ],
        )
    return {
        "contacts": [f"p{i}@c{i}.test" for i in range(n)],
        "client_emails": [f"office@c{i}.test" for i in range(n)],
        "leads": [f"lead{i}@l.test" for i in range(n)],
        "domains": [f"c{i}.test" for i in range(n)],
        "records": [f"OP-{i}" for i in range(n)],
    }


def miss(key: str) -> str:
    """A key like ``key`` that finds nothing."""
    return key.replace("@", "@no-") if "@" in key else f"XX-{key}"


@pytest.mark.parametrize(
    ("hits", "misses", "queries"), [(1, 0, 1), (3, 3, 1), (500, 0, 1), (600, 400, 2), (600, 401, 3)]
)
def test_each_lookup_is_one_query_per_500_keys(store: Store, hits: int, misses: int, queries: int) -> None:
    keys = many(store, 600)
    for name, lookup in LOOKUPS.items():
        # Given keys of which `hits` find a row each (of 600 rows) and `misses` find none
        wanted = keys[name][:hits] + [miss(k) for k in keys[name][:misses]]
        # When the lookup runs
        with statements(store) as seen:
            found = lookup(store, wanted)
        # Then every hit is found, with one query per 500 keys
        assert len(found) == hits, name  # type: ignore[arg-type]
        assert len(seen) == queries, (name, seen)


def test_no_keys_no_query(store: Store) -> None:
    for name, lookup in LOOKUPS.items():
        with statements(store) as seen:
            lookup(store, [])
        assert seen == [], name


@pytest.mark.postgres
def test_lookups_use_their_key_index_on_postgres(pg_url: str, tmp_path: Path) -> None:
    store = Store(pg_url, tmp_path / "blobs")
    store.open(upgrade=True)
    try:
        keys = many(store, 2000)
        with store.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        for name, lookup in LOOKUPS.items():
            with statements(store) as seen:
                lookup(store, keys[name][:3])
            ((statement, parameters),) = seen
            with store.engine.connect() as conn:
                plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert KEY_INDEX[name] in plan, (name, plan)
            assert "Seq Scan" not in plan, (name, plan)
        with statements(store) as seen:
            store.directory.find_people([keys["contacts"][0], keys["client_emails"][1], keys["leads"][2]])
        ((statement, parameters),) = seen
        with store.engine.connect() as conn:
            plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
        for name in ("contacts", "client_emails", "leads", "domains"):
            assert KEY_INDEX[name] in plan, (name, plan)
        assert "Seq Scan" not in plan, plan
    finally:
        store.close()


def test_lookups_use_their_key_index_on_sqlite(sqlite_store: Store) -> None:
    # SQLite's plans; test_lookups_use_their_key_index_on_postgres checks PostgreSQL's.
    store = sqlite_store
    keys = many(store, 200)
    for name, lookup in LOOKUPS.items():
        with statements(store) as seen:
            lookup(store, keys[name][:3])
        ((statement, parameters),) = seen
        with store.engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        # SQLite names unique constraints sqlite_autoindex_*; the thread lookup starts from the Message-ID index
        # (joined instead, it started from every record link: a scan growing with the mail filed). find_people's
        # union: each branch (after SQLite's COMPOUND/SUBQUERY/UNION lines) starts with an index search.
        steps = [line for line in plan if not line.startswith(("COMPOUND", "LEFT-MOST", "UNION"))]
        assert not [line for line in steps if line.startswith("SCAN")], (name, plan)
        assert steps[-1 if name == "thread" else 0].startswith("SEARCH"), (name, plan)
    with statements(store) as seen:
        store.directory.find_people([keys["contacts"][0], keys["client_emails"][1], keys["leads"][2]])
    ((statement, parameters),) = seen
    with store.engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    assert not [line for line in plan if line.startswith("SCAN")], plan
    assert len([line for line in plan if line.startswith("SEARCH") and "USING" in line]) >= 4, plan
    store.directory.apply_users([UserRow(line=2, email="admin@example.com", name="Admin", team=None, role="all")])
    admin = store.directory.find_users_by_addresses(["admin@example.com"])["admin@example.com"].id
    with statements(store) as seen:
        assert len(store.directory.find_thread_links(["<m1@x>", "<m2@x>"], user_id=admin, limit=50)) == 2
    # One query for the user's role, team and addresses, one for the links
    (_viewer, (statement, parameters)) = seen
    with store.engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    assert any("ix_messages_message_id_header" in line for line in plan), plan
    assert not any("ix_links_entity" in line for line in plan), plan


def checkouts(store: Store) -> AbstractContextManager[list[Any]]:
    """Every connection checked out of the pool inside the block."""
    return engine_events(store, "checkout", lambda _dbapi, record, _proxy: record)


def test_lookups_inside_reading_share_one_connection(filled: Store) -> None:
    def ask() -> tuple[object, ...]:
        return (
            filled.directory.find_users_by_addresses(["piotr@acme-logistics.pl"]),
            filled.directory.find_people(["piotr@acme-logistics.pl", "someone@skodadily.cz"]),
            filled.directory.find_records_by_codes(["OP-123"]),
        )

    # Given lookups one message makes, outside reading(): one checkout each
    with checkouts(filled) as apart:
        expected = ask()
    # When they run inside reading()
    with checkouts(filled) as together, filled.reading():
        found = ask()
        with filled.reading():  # nested: the same connection still
            found_nested = ask()
    # Then they find the same, through one connection
    assert (len(apart), len(together)) == (3, 1)
    assert found == expected == found_nested
    # And the connection goes back: the next lookup checks out a fresh one
    with checkouts(filled) as after:
        assert filled.directory.find_records_by_codes(["OP-123"]) == expected[2]
    assert len(after) == 1
