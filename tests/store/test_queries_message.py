"""The read side for the web viewer: one message's detail, codes, receipts and attachments."""

from __future__ import annotations

import hashlib

from store import CodeView, LinkChip, Store
from tests.store.world import ADA, ANNA, BETA, JAN, KAREL, LOGO, PAWEL, PDF, PIOTR, World, day


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
