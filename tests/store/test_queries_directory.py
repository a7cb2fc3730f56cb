"""The read side for the web viewer: client, contact, record and lead pages."""

from __future__ import annotations

from datetime import UTC, datetime

from store import EntityRef, MessageFilter, Store
from store.shapes import ContactRow
from tests.store.world import ACME, ADA, ANNA, EVA, JAN, LEAD, PAWEL, PIOTR, SOLO, World, listed


def test_client_contact_and_record_pages(store: Store, world: World) -> None:
    jan = world.viewer(store, JAN.email)  # the directory is not secret: any viewer sees it

    client = store.queries.get_client(jan, world.acme)
    contact = store.queries.get_contact(jan, world.piotr)
    record = store.queries.get_record(jan, world.deal)

    assert client is not None and contact is not None and record is not None
    assert (client.name, client.domains, client.emails) == (ACME.name, ACME.domains, ACME.emails)
    assert client.contacts == (EntityRef(world.piotr, PIOTR.name),)
    assert [(r.code, r.title, r.client_name) for r in client.records] == [("OP-123", "Fleet renewal", ACME.name)]
    assert (contact.name, contact.client, contact.emails) == (
        PIOTR.name,
        EntityRef(world.acme, ACME.name),
        PIOTR.emails,
    )
    assert (record.code, record.type, record.client_id) == ("OP-123", "deal", world.acme)
    lone = store.queries.get_contact(jan, world.wolf)
    assert lone is not None and lone.client is None
    assert store.queries.get_client(jan, 10_000) is None
    assert store.queries.get_contact(jan, 10_000) is None
    assert store.queries.get_record(jan, 10_000) is None


def test_a_lead_shows_its_first_message_only_to_who_may_see_it(store: Store, world: World) -> None:
    ada, jan = (world.viewer(store, e) for e in (ADA.email, JAN.email))

    lead = store.queries.get_lead(ada, world.lead)

    assert lead is not None
    assert (lead.address, lead.name, lead.owner, lead.converted_contact) == (LEAD, "Jan Nowak", ANNA.name, None)
    assert lead.first_message_id == world.m["cc_jan"]
    assert store.queries.get_lead(jan, world.lead).first_message_id == world.m["cc_jan"]  # type: ignore[union-attr]
    assert store.queries.get_lead(ada, 10_000) is None


def test_a_lead_is_seen_only_by_who_may_see_its_mail_or_owns_it(store: Store, world: World) -> None:
    # Anna (team PL) wrote to the lead with Jan (CZ, role own) in Cc. Paweł (PL, own) is on none of it.
    viewers = {email: world.viewer(store, email) for email in (ADA.email, ANNA.email, PAWEL.email, JAN.email)}
    viewers |= {email: world.viewer(store, email) for email in (EVA.email, SOLO.email)}

    seen = {email: store.queries.get_lead(viewer, world.lead) is not None for email, viewer in viewers.items()}
    listed = {email: [lead.id for lead in store.queries.list_leads(viewer).items] for email, viewer in viewers.items()}
    counted = {email: store.queries.dashboard(viewer, datetime.now(UTC)).leads_7d for email, viewer in viewers.items()}

    # Admin; the owner; Jan, in Cc; Eva, through Jan's team; not Paweł, nor Solo (a team role without a team)
    expected = {ADA.email: True, ANNA.email: True, JAN.email: True, EVA.email: True}
    expected |= {PAWEL.email: False, SOLO.email: False}
    assert seen == expected
    assert listed == {email: [world.lead] if ok else [] for email, ok in expected.items()}
    assert {email: n > 0 for email, n in counted.items()} == expected


def test_a_converted_lead_names_its_contact(store: Store, world: World) -> None:
    store.directory.apply_contacts([ContactRow(9, "Jan Nowak", (LEAD,), client=ACME.name)])
    store.filing.relink(free_mail_domains=())
    contact = store.directory.find_people([LEAD]).contacts[LEAD]

    (lead,) = store.queries.list_leads(world.viewer(store, ADA.email)).items

    assert lead.converted_contact == EntityRef(contact.id, "Jan Nowak")
    assert lead.converted_at is not None
    assert listed(store, world.viewer(store, ADA.email), MessageFilter(client_id=world.acme)) == world.ids(
        "to_piotr", "deal", "client_direct", "cc_jan"
    )
