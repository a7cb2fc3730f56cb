"""Directory lookups the linker makes per message: the right rows for each address, domain and code."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from store import ContactRef, EntityRef, LeadRef, RecordRef, Store
from store.models import Lead, Link, Message, Participant
from store.shapes import UserRow
from tests.store.lookups_support import ACME, DEAL, PIOTR, SKODA, many, statements


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
    store.queries.rebuild_index_counts()  # the rows above bypassed the store, which keeps its counts and team mail
    return mid


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
    filled.queries.rebuild_index_counts()  # the links above bypassed the store

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
