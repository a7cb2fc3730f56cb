"""The read side for the web viewer: visibility per role, message detail, attachments and directory pages.

``build_world`` files a small history with the import verbs and ``apply_plan``; other read-side tests reuse it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

import pytest

from store import (
    AttachmentWrite,
    CodeView,
    CodeWrite,
    EntityRef,
    LeadWrite,
    LinkChip,
    LinkWrite,
    MessageFilter,
    MessageWrite,
    ParticipantWrite,
    PlanWrite,
    Store,
    Trust,
    Viewer,
)
from store.shapes import ClientRow, ContactRow, RecordRow, UserRow

ADA = UserRow(line=2, email="ada@crm.example.com", name="Ada Admin", team="PL", role="all")
ANNA = UserRow(3, "anna@crm.example.com", "Anna Nowak", "PL", "team", aliases=("anna.nowak@crm.example.com",))
PAWEL = UserRow(4, "pawel@crm.example.com", "Paweł Kowalski", "PL", "own")
JAN = UserRow(5, "jan@crm.example.com", "Jan Novák", "CZ", "own")
EVA = UserRow(6, "eva@crm.example.com", "Eva Dvořák", "CZ", "team")
SOLO = UserRow(7, "solo@crm.example.com", "Solo Worker", None, "team")
USERS = (ADA, ANNA, PAWEL, JAN, EVA, SOLO)
ACME = ClientRow(2, "Acme Logistics", domains=("acme-logistics.pl",), emails=("biuro@acme-logistics.pl",))
BETA = ClientRow(3, "Beta s.r.o.", domains=("beta.cz",))
PIOTR = ContactRow(2, "Piotr Wiśniewski", ("piotr@acme-logistics.pl",), client=ACME.name)
KAREL = ContactRow(3, "Karel Svoboda", ("karel@beta.cz",), client=BETA.name)
WOLF = ContactRow(4, "Lone Wolf", ("wolf@example.org",))
DEAL = RecordRow(2, "OP-123", "deal", "Fleet renewal", client=ACME.name)
WAREHOUSE = RecordRow(3, "OP-200", "deal", "Warehouse", client=BETA.name)
LEAD = "nowak@gmail.com"
PDF = b"%PDF-1.7 the offer"
LOGO = b"\x89PNG the logo"


def day(n: int) -> datetime:
    return datetime(2026, 3, n, 9, 30, tzinfo=UTC)


def blob(data: bytes, filename: str | None, content_type: str, cid: str | None = None) -> AttachmentWrite:
    return AttachmentWrite(
        filename, content_type, len(data), hashlib.sha256(data).hexdigest(), cid, cid is not None, data
    )


def person(role: str, address: str, name: str | None = None, match: tuple[str, int] | None = None) -> ParticipantWrite:
    internal = address.endswith("@crm.example.com")
    kind, mid = match if match else (None, None)
    return ParticipantWrite(role, address, name, internal, kind, mid, kind)


def file_message(
    store: Store,
    *,
    submitter: tuple[str, int],
    key: str,
    subject: str | None,
    date: datetime | None,
    kind: str = "bcc",
    direction: str = "outgoing",
    sender: tuple[str, str | None] | None = None,
    participants: tuple[ParticipantWrite, ...] = (),
    links: tuple[LinkWrite, ...] = (),
    body: str | None = None,
    trust: Trust | None = None,
    **more: object,
) -> int:
    """File one email through a receipt from ``submitter`` (address, user id); returns the message id."""
    address, user_id = submitter
    receipt = store.receipts.add_inbound(
        key.encode(), mail_from=address, rcpt_tos=["assistant@crm.example.com"], trust=trust
    ).id
    from_address, from_name = sender if sender else (address, None)
    message = MessageWrite(
        dedupe_key=key,
        message_id_header=key,
        subject=subject,
        date=date,
        from_name=from_name,
        from_address=from_address,
        direction=direction,
        kind=kind,
        submitter_user_id=user_id,
        body_text=body,
        body_html=None,
        note=None,
        raw_sha256=hashlib.sha256(key.encode()).hexdigest(),
        participants=participants,
        links=(LinkWrite("user", "submitter", entity_id=user_id), *links),
        **more,  # type: ignore[arg-type]
    )
    result = store.filing.apply_plan(
        receipt, PlanWrite(status="linked", reason=f"submitted by {address}", message=message)
    )
    assert result.message_id is not None
    return result.message_id


@dataclasses.dataclass(frozen=True)
class World:
    users: dict[str, int]
    acme: int
    beta: int
    piotr: int
    karel: int
    wolf: int
    deal: int
    warehouse: int
    lead: int
    m: dict[str, int]

    def viewer(self, store: Store, email: str) -> Viewer:
        found = store.queries.get_viewer(self.users[email])
        assert found is not None
        return found

    def ids(self, *names: str) -> set[int]:
        return {self.m[name] for name in names}


def build_world(store: Store) -> World:
    """Two teams, two clients, and nine emails whose visibility differs per viewer."""
    store.directory.apply_users(list(USERS))
    store.directory.apply_clients([ACME, BETA])
    store.directory.apply_contacts([PIOTR, KAREL, WOLF])
    store.directory.apply_records([DEAL, WAREHOUSE])
    users = {email: ref.id for email, ref in store.directory.find_users_by_addresses([u.email for u in USERS]).items()}
    contacts = store.directory.find_people(["piotr@acme-logistics.pl", "karel@beta.cz", "wolf@example.org"]).contacts
    piotr, karel, wolf = (contacts[a].id for a in ("piotr@acme-logistics.pl", "karel@beta.cz", "wolf@example.org"))
    acme, beta = contacts["piotr@acme-logistics.pl"].client_id, contacts["karel@beta.cz"].client_id
    assert acme is not None and beta is not None
    records = store.directory.find_records_by_codes(["OP-123", "OP-200"])
    deal, warehouse = records["OP-123"].id, records["OP-200"].id
    anna, pawel, jan, eva, solo = ((u.email, users[u.email]) for u in (ANNA, PAWEL, JAN, EVA, SOLO))
    m: dict[str, int] = {}
    # Anna writes to Piotr (a contact of Acme only), with an offer and an inline logo.
    m["to_piotr"] = file_message(
        store,
        submitter=anna,
        key="<1@crm>",
        subject="Oferta flotowa",
        date=day(2),
        sender=(ANNA.email, "Anna Nowak"),
        participants=(
            person("from", ANNA.email, "Anna Nowak"),
            person("to", PIOTR.emails[0], PIOTR.name, ("contact", piotr)),
        ),
        links=(LinkWrite("contact", "address", entity_id=piotr),),
        body="Dzień dobry Panie Wiśniewski, w załączniku oferta.",
        attachments=(blob(PDF, "offer.pdf", "application/pdf"), blob(LOGO, None, "image/png", "<logo@acme>")),
    )
    # Paweł writes about deal OP-123 to Acme's office: filed on the record only.
    m["deal"] = file_message(
        store,
        submitter=pawel,
        key="<2@crm>",
        subject="OP-123 harmonogram",
        date=day(3),
        participants=(person("from", PAWEL.email), person("to", "biuro@acme-logistics.pl", None, ("client", acme))),
        links=(LinkWrite("record", "code", entity_id=deal),),
        codes=(CodeWrite("OP-123", deal),),
    )
    # Acme's office writes to Anna's alias; a mailbox rule redirects it.
    m["client_direct"] = file_message(
        store,
        submitter=anna,
        key="<3@acme>",
        subject="Pytanie o fakturę",
        date=day(4),
        kind="redirect",
        direction="incoming",
        sender=("biuro@acme-logistics.pl", "Biuro Acme"),
        participants=(
            person("from", "biuro@acme-logistics.pl", "Biuro Acme", ("client", acme)),
            person("to", ANNA.aliases[0]),
        ),
        links=(LinkWrite("client", "address", entity_id=acme),),
    )
    # Jan forwards Karel's mail about OP-200 and an unknown code.
    m["beta"] = file_message(
        store,
        submitter=jan,
        key="<4@beta>",
        subject="Fwd: OP-200 XX-9 sklad",
        date=day(5),
        kind="forward",
        direction="incoming",
        sender=("karel@beta.cz", "Karel Svoboda"),
        participants=(
            person("from", "karel@beta.cz", KAREL.name, ("contact", karel)),
            person("to", JAN.email, JAN.name),
        ),
        links=(
            LinkWrite("contact", "address", entity_id=karel),
            LinkWrite("client", "address", entity_id=beta),
            LinkWrite("record", "code", entity_id=warehouse),
        ),
        codes=(CodeWrite("OP-200", warehouse), CodeWrite("XX-9", None)),
    )
    # Anna writes to a new lead, with Jan (the other team) in Cc.
    m["cc_jan"] = file_message(
        store,
        submitter=anna,
        key="<5@crm>",
        subject="Zapytanie ofertowe",
        date=day(6),
        participants=(person("from", ANNA.email), person("to", LEAD, "Jan Nowak"), person("cc", JAN.email)),
        links=(LinkWrite("lead", "new-lead", lead_address=LEAD),),
        new_leads=(LeadWrite(LEAD, "Jan Nowak", None, users[ANNA.email]),),
    )
    # Paweł writes to a stranger, without a Date header: filed nowhere, sorted by when it was filed.
    m["unmatched"] = file_message(
        store,
        submitter=pawel,
        key="<6@crm>",
        subject="Hello",
        date=None,
        participants=(person("from", PAWEL.email), person("to", "stranger@example.net")),
    )
    # Eva's mailbox rule brings Wolf's mail, with Anna's alias in Cc.
    m["eva_alias_anna"] = file_message(
        store,
        submitter=eva,
        key="<7@wolf>",
        subject="Wolf pack",
        date=day(7),
        kind="redirect",
        direction="incoming",
        sender=("wolf@example.org", WOLF.name),
        participants=(
            person("from", "wolf@example.org", WOLF.name, ("contact", wolf)),
            person("to", EVA.email),
            person("cc", ANNA.aliases[0]),
        ),
        links=(LinkWrite("contact", "address", entity_id=wolf),),
    )
    # Karel writes to Jan; Paweł submits the same email again later (a second receipt: a user link only).
    twice = {
        "key": "<8@beta>",
        "subject": "Re: sklad",
        "date": day(8),
        "kind": "redirect",
        "direction": "incoming",
        "sender": ("karel@beta.cz", KAREL.name),
        "participants": (person("from", "karel@beta.cz", KAREL.name, ("contact", karel)), person("to", JAN.email)),
        "links": (LinkWrite("contact", "address", entity_id=karel),),
    }
    m["twice"] = file_message(store, submitter=jan, **twice)  # type: ignore[arg-type]
    again = file_message(store, submitter=pawel, **{**twice, "participants": ()})  # type: ignore[arg-type]
    assert again == m["twice"]
    m["solo"] = file_message(
        store, submitter=solo, key="<9@crm>", subject="Solo", date=day(1), participants=(person("from", SOLO.email),)
    )
    (lead,) = store.directory.find_people([LEAD]).leads.values()
    return World(users, acme, beta, piotr, karel, wolf, deal, warehouse, lead.id, m)


@pytest.fixture
def world(store: Store) -> World:
    return build_world(store)


def listed(store: Store, viewer: Viewer, f: MessageFilter | None = None) -> set[int]:
    rows = list(store.queries.iter_messages(viewer, f or MessageFilter()))
    ids = [row.id for row in rows]
    assert len(ids) == len(set(ids))
    return set(ids)


#: Who sees what (DESIGN.md, "Visibility"), by message name.
VISIBLE = {
    ADA.email: {"to_piotr", "deal", "client_direct", "beta", "cc_jan", "unmatched", "eva_alias_anna", "twice", "solo"},
    # Team PL (Ada, Anna, Paweł): what they submitted, a user link (Paweł's second receipt), Anna's alias in Cc.
    ANNA.email: {"to_piotr", "deal", "client_direct", "cc_jan", "unmatched", "eva_alias_anna", "twice"},
    # Paweł alone: what he submitted, and the email he sent in a second time.
    PAWEL.email: {"deal", "unmatched", "twice"},
    # Jan alone: what he submitted, and Anna's mail with him in Cc.
    JAN.email: {"beta", "cc_jan", "twice"},
    # Team CZ (Jan, Eva): theirs, plus Anna's mail with Jan in Cc.
    EVA.email: {"beta", "cc_jan", "eva_alias_anna", "twice"},
    # A team role without a team: its own mail only.
    SOLO.email: {"solo"},
}


# --- visibility ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", list(VISIBLE))
def test_each_role_lists_exactly_what_it_may_see(store: Store, world: World, email: str) -> None:
    assert listed(store, world.viewer(store, email)) == world.ids(*VISIBLE[email])


@pytest.mark.parametrize("email", list(VISIBLE))
def test_guessed_ids_of_invisible_messages_read_as_missing(store: Store, world: World, email: str) -> None:
    viewer = world.viewer(store, email)
    guesses = range(-1, max(world.m.values()) + 5)

    found = {i for i in guesses if store.queries.get_message(viewer, i) is not None}

    assert found == world.ids(*VISIBLE[email])


def test_viewer_carries_role_team_and_own_addresses(store: Store, world: World) -> None:
    anna = world.viewer(store, ANNA.email)
    assert (anna.role, anna.addresses) == ("team", (ANNA.aliases[0], ANNA.email))
    assert anna.team_id is not None and anna.team_id == world.viewer(store, PAWEL.email).team_id
    assert world.viewer(store, SOLO.email).team_id is None
    assert store.queries.get_viewer(10_000) is None


def test_an_unknown_role_sees_nothing(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    stranger = dataclasses.replace(ada, role="superuser")
    assert listed(store, stranger) == set()
    assert store.queries.get_message(stranger, world.m["to_piotr"]) is None
    assert store.queries.dashboard(stranger, datetime.now(UTC)).messages_7d["bcc"] == 0


def test_own_addresses_come_from_the_viewer(store: Store, world: World) -> None:
    # Given Paweł's viewer with Jan's address added: Anna's mail with Jan in Cc becomes visible to it.
    pawel = world.viewer(store, PAWEL.email)
    widened = Viewer(pawel.user_id, "own", pawel.team_id, (*pawel.addresses, JAN.email))
    assert listed(store, widened) == world.ids(*VISIBLE[PAWEL.email], "cc_jan", "beta", "twice")


def test_filters_narrow_within_visibility(store: Store, world: World) -> None:
    eva, jan = world.viewer(store, EVA.email), world.viewer(store, JAN.email)
    assert listed(store, eva, MessageFilter(client_id=world.beta)) == world.ids("beta", "twice")
    assert listed(store, jan, MessageFilter(client_id=world.acme)) == set()
    assert listed(store, jan, MessageFilter(q="Zapytanie")) == world.ids("cc_jan")
    assert listed(store, jan, MessageFilter(q="flotowa")) == set()


# --- one message -------------------------------------------------------------------------------------------------


def test_message_detail_has_everything_the_page_shows(store: Store, world: World) -> None:
    anna = world.viewer(store, ANNA.email)

    got = store.queries.get_message(anna, world.m["to_piotr"])

    assert got is not None
    assert (got.subject, got.date, got.kind, got.direction) == ("Oferta flotowa", day(2), "bcc", "outgoing")
    assert (got.from_name, got.from_address, got.submitter, got.message_id_header) == (
        "Anna Nowak",
        ANNA.email,
        ANNA.name,
        "<1@crm>",
    )
    assert got.body_text is not None and "Wiśniewski" in got.body_text
    assert got.raw_sha256 == hashlib.sha256(b"<1@crm>").hexdigest()
    assert [(p.role, p.address, p.match_type, p.match_label, p.match_via) for p in got.participants] == [
        ("from", ANNA.email, None, None, None),
        ("to", PIOTR.emails[0], "contact", PIOTR.name, "contact"),
    ]
    assert got.links == (
        LinkChip("contact", world.piotr, PIOTR.name, "address"),
        LinkChip("user", world.users[ANNA.email], ANNA.name, "submitter"),
    )
    (receipt,) = got.receipts
    assert (receipt.mail_from, receipt.status, receipt.reason, receipt.sender_user) == (
        ANNA.email,
        "linked",
        f"submitted by {ANNA.email}",
        ANNA.name,
    )
    assert receipt.rcpt_tos == ("assistant@crm.example.com",)
    assert [(a.filename, a.content_type, a.size, a.inline, a.content_id) for a in got.attachments] == [
        ("offer.pdf", "application/pdf", len(PDF), False, None),
        (None, "image/png", len(LOGO), True, "<logo@acme>"),
    ]
    assert store.content.get_blob(got.attachments[0].sha256) == PDF


def test_codes_show_resolved_and_unresolved(store: Store, world: World) -> None:
    got = store.queries.get_message(world.viewer(store, JAN.email), world.m["beta"])
    assert got is not None
    assert got.codes == (CodeView("OP-200", world.warehouse), CodeView("XX-9", None))
    assert [chip.label for chip in got.links] == [BETA.name, KAREL.name, "OP-200", JAN.name]


def test_every_receipt_of_an_email_is_listed(store: Store, world: World) -> None:
    got = store.queries.get_message(world.viewer(store, ADA.email), world.m["twice"])
    assert got is not None
    assert [(r.mail_from, r.sender_user, r.status) for r in got.receipts] == [
        (JAN.email, JAN.name, "linked"),
        (PAWEL.email, PAWEL.name, "linked"),
    ]
    assert {(c.type, c.label) for c in got.links} >= {("user", JAN.name), ("user", PAWEL.name)}


def test_attachments_only_through_a_visible_message(store: Store, world: World) -> None:
    anna, pawel = world.viewer(store, ANNA.email), world.viewer(store, PAWEL.email)
    detail = store.queries.get_message(anna, world.m["to_piotr"])
    assert detail is not None
    pdf, logo = detail.attachments

    assert store.queries.get_attachment(anna, world.m["to_piotr"], pdf.id) == pdf
    assert store.queries.get_attachment(pawel, world.m["to_piotr"], pdf.id) is None
    assert store.queries.get_attachment(anna, world.m["deal"], pdf.id) is None  # another message's attachment
    assert store.queries.get_attachment(anna, world.m["to_piotr"], 10_000) is None
    for cid in ("logo@acme", "<logo@acme>", "logo%40acme"):
        assert store.queries.find_attachment_by_cid(anna, world.m["to_piotr"], cid) == logo
    assert store.queries.find_attachment_by_cid(pawel, world.m["to_piotr"], "logo@acme") is None
    assert store.queries.find_attachment_by_cid(anna, world.m["deal"], "logo@acme") is None
    assert store.queries.find_attachment_by_cid(anna, world.m["to_piotr"], "other@acme") is None
    assert store.queries.find_attachment_by_cid(anna, world.m["to_piotr"], "<>") is None


# --- directory pages -----------------------------------------------------------------------------------------------


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
