"""Nested forwards and replies, as whole messages the way each mail client sends them (``fixtures/forwards/chains``).

A forward of a forward files the deepest external sender's mail and keeps every level (who passed it on, how, in
which client's format); every level's people take part. A reply that quotes someone is the user's own mail to its
recipients, and the people it quotes take part too, whatever the client and language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from linker.explain import plan_to_json
from linker.forwards.inline import STRICT_SCAN_LINES, find_inline_quote
from linker.model import LinkPlan
from linker.parse import parse_message
from linker.pipeline import Envelope, plan_message
from linker.unwrap import read_chain
from tests.linker.support import SETTINGS, directory, internal, mail

CHAINS = Path(__file__).resolve().parents[2] / "fixtures" / "forwards" / "chains"
ANNA = "anna.nowak@example.com"
PROVEN = Envelope(mail_from=ANNA, submitter=ANNA, proof="dkim")


@dataclass(frozen=True)
class Case:
    """What one fixture must be filed as: kind, the original's sender, the chain (how, style, sender) and people."""

    kind: str
    sender: str
    chain: list[tuple[str, str, str | None]]
    people: set[str] = field(default_factory=set)
    direction: str = "incoming"


CASES: dict[str, Case] = {
    # (4) nested forwards: FW: FW:, Fwd: WG:, PD: TR:, attached inside inline and inline inside attached
    "outlook_fw_fw_en.eml": Case(
        "forward",
        "oliver.grant@northwind.test",
        [("inline", "outlook", "piotr.zielinski@example.com"), ("inline", "outlook", "oliver.grant@northwind.test")],
        {"piotr.zielinski@example.com", ANNA, "oliver.grant@northwind.test", "emma.hughes@northwind.test"}
        | {"goods.in@northwind.test"},
    ),
    "gmail_outlook_fwd_wg_de.eml": Case(
        "forward",
        "j.weiss@maschinenbau-ulm.test",
        [("inline", "gmail", "piotr.zielinski@example.com"), ("inline", "outlook", "j.weiss@maschinenbau-ulm.test")],
        {"piotr.zielinski@example.com", ANNA, "j.weiss@maschinenbau-ulm.test", "s.krueger@maschinenbau-ulm.test"},
    ),
    "outlook_pd_tr_pl.eml": Case(
        # The client forwarded their supplier's price list: the supplier is the deepest external sender
        "forward",
        "c.moreau@emballages-sud.example",
        [
            ("inline", "outlook", "emilie.laurent@transports-lyon.test"),
            ("inline", "outlook", "c.moreau@emballages-sud.example"),
        ],
        {"emilie.laurent@transports-lyon.test", "hugo.lefevre@transports-lyon.test", ANNA}
        | {"c.moreau@emballages-sud.example"},
    ),
    "outlook_attached_seznam_cs.eml": Case(
        "forward",
        "jan.novak@strojirny-brno.test",
        [("attached", "rfc822", "ioana.munteanu@example.com"), ("inline", "dashed", "jan.novak@strojirny-brno.test")],
        {"ioana.munteanu@example.com", ANNA, "jan.novak@strojirny-brno.test", "petra.dvorakova@strojirny-brno.test"},
    ),
    "gmail_inline_attached_fr.eml": Case(
        "forward",
        "c.moreau@emballages-sud.example",
        [
            ("inline", "gmail", "emilie.laurent@transports-lyon.test"),
            ("attached", "rfc822", "c.moreau@emballages-sud.example"),
        ],
        {"emilie.laurent@transports-lyon.test", ANNA, "c.moreau@emballages-sud.example"}
        | {"qualite@emballages-sud.example"},
    ),
    "gmail_html_only_header_en.eml": Case(
        # The text part holds only the note; the header block is in the HTML's gmail_quote div
        "forward",
        "oliver.grant@northwind.test",
        [("inline", "gmail", "oliver.grant@northwind.test")],
        {"oliver.grant@northwind.test", ANNA, "emma.hughes@northwind.test"},
    ),
    # (5) replies: the user's own mail, with the quoted people taking part
    "reply_apple_mail_en.eml": Case(
        "bcc", ANNA, [("quoted", "attribution", "oliver.grant@northwind.test")], {ANNA, "oliver.grant@northwind.test"}
    ),
    "reply_apple_mail_de.eml": Case(
        "bcc",
        ANNA,
        [("quoted", "attribution", "j.weiss@maschinenbau-ulm.test")],
        {ANNA, "j.weiss@maschinenbau-ulm.test"},
    ),
    "reply_apple_mail_pl_over_forward.eml": Case(
        # "Wiadomość napisana przez …" over a quoted Gmail forward: still Anna's reply, not the supplier's mail
        "bcc",
        ANNA,
        [("quoted", "attribution", "t.wisniewski@acme-logistyka.test")],
        {ANNA, "t.wisniewski@acme-logistyka.test"},
    ),
    "reply_gmail_pl_to_assistant.eml": Case(
        # Sent to the assistant alone: the quoted client is the only other participant
        "bcc",
        ANNA,
        [("quoted", "attribution", "t.wisniewski@acme-logistyka.test")],
        {ANNA, "t.wisniewski@acme-logistyka.test"},
    ),
    "reply_gmail_fr_html.eml": Case(
        "bcc",
        ANNA,
        [("quoted", "attribution", "emilie.laurent@transports-lyon.test")],
        {ANNA, "emilie.laurent@transports-lyon.test"},
    ),
    "reply_thunderbird_cs.eml": Case(
        "bcc",
        ANNA,
        [("quoted", "attribution", None)],
        {ANNA, "jan.novak@strojirny-brno.test", "petra.dvorakova@strojirny-brno.test"},
    ),
    "reply_thunderbird_de_over_forward.eml": Case(
        "bcc", ANNA, [("quoted", "attribution", None)], {ANNA, "j.weiss@maschinenbau-ulm.test"}
    ),
    "reply_outlook_en_to_assistant.eml": Case(
        # Outlook's reply writes the same block as its forward; RE: says it is Anna's reply
        "bcc",
        ANNA,
        [("quoted", "outlook", "oliver.grant@northwind.test")],
        {ANNA, "oliver.grant@northwind.test", "emma.hughes@northwind.test"},
    ),
    "reply_gmx_de.eml": Case(
        "bcc",
        ANNA,
        [("quoted", "gmx", "brandt@stahlhandel.example")],
        {ANNA, "brandt@stahlhandel.example", "lager@stahlhandel.example"},
    ),
    "reply_wp_pl.eml": Case(
        "bcc",
        ANNA,
        [("quoted", "attribution", "ewa.kowalczyk@acme-logistyka.test")],
        {ANNA, "ewa.kowalczyk@acme-logistyka.test"},
    ),
    "reply_seznam_cs.eml": Case(
        "bcc", ANNA, [("quoted", "dashed", "svoboda@hutni-material.example")], {ANNA, "svoboda@hutni-material.example"}
    ),
}


def planned(name: str) -> LinkPlan:
    return plan_message(
        parse_message((CHAINS / name).read_bytes()), envelope=PROVEN, settings=SETTINGS, directory=directory()
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_chain(name: str) -> None:
    case = CASES[name]
    # Given a message as the client sent it, when the pipeline plans it
    plan = planned(name)
    original = plan.original
    assert original is not None
    # Then it is filed as the case says, with every level of the chain kept and every level's people taking part
    assert plan.decision == "accept"
    assert plan.kind == case.kind
    assert plan.direction == ("outgoing" if case.kind == "bcc" else case.direction)
    assert original.from_ is not None and original.from_.address == case.sender
    chain = [(level.how, level.style, level.from_.address if level.from_ else None) for level in original.chain]
    assert chain == case.chain
    assert {p.address for p in plan.participants} == case.people
    assert len({p.address for p in plan.participants}) == len(plan.participants)


def test_quoted_people_are_no_senders_of_the_reply() -> None:
    # Given Anna's Outlook reply sent to the assistant alone, quoting Oliver's mail (Cc Emma)
    plan = planned("reply_outlook_en_to_assistant.eml")
    # Then Anna is its one sender; the people it quotes take part as "chain" (which gives nobody the message to
    # see: store.visibility), and the chain says who was what
    roles = {p.address: p.role for p in plan.participants}
    assert roles == {ANNA: "from", "oliver.grant@northwind.test": "chain", "emma.hughes@northwind.test": "chain"}
    assert plan.original is not None
    assert [m.address for m in plan.original.to] == ["assistant@crm.example.com"]
    (quoted,) = plan.original.chain
    assert [m.address for m in quoted.to] == [ANNA]
    assert [m.address for m in quoted.cc] == ["emma.hughes@northwind.test"]


def test_fixtures_are_all_used() -> None:
    assert {p.name for p in CHAINS.iterdir()} == set(CASES)


def test_a_level_records_who_passed_it_on_when_and_under_which_subject() -> None:
    original = planned("gmail_outlook_fwd_wg_de.eml").original
    assert original is not None
    outer, inner = original.chain
    # The first level was passed on by Anna, the second by Piotr, in the message that carried it
    assert outer.forwarded_by is not None and outer.forwarded_by.address == ANNA
    assert outer.forward_subject == "Fwd: WG: Angebot Ersatzteile Linie 3"
    assert inner.forwarded_by is not None and inner.forwarded_by.address == "piotr.zielinski@example.com"
    assert inner.forward_subject == "WG: Angebot Ersatzteile Linie 3"
    assert inner.forwarded_at == outer.date
    assert inner.subject == "Angebot Ersatzteile Linie 3"
    assert [p.address for p in inner.cc] == ["s.krueger@maschinenbau-ulm.test"]


def test_the_original_keeps_its_body_and_the_outermost_note() -> None:
    original = planned("outlook_pd_tr_pl.eml").original
    assert original is not None
    assert original.subject == "Tarifs palettes 2024"
    assert original.body is not None and original.body.startswith("Bonjour Madame Laurent,")
    assert original.note == "Klient przesłał cennik swojego dostawcy, proszę o kontakt."


def test_explain_shows_the_chain() -> None:
    shown = plan_to_json(planned("outlook_attached_seznam_cs.eml"))
    chain = shown["original"]["chain"]
    assert [level["how"] for level in chain] == ["attached", "inline"]
    assert chain[0]["forwarded_by"] == {"name": "Anna Nowak", "address": ANNA}
    assert chain[1]["from"] == {"name": "Jan Novák", "address": "jan.novak@strojirny-brno.test"}
    assert chain[1]["subject"] == "Poptávka - regály do skladu"


def test_a_quoted_forward_under_a_reply_prefix_is_history() -> None:
    # Given a reply whose attribution no parser knows, above a Gmail forward quoted with "> "
    text = "Thanks.\n\nSomebody said something:\n> Note.\n>\n> ---------- Forwarded message ---------\n"
    text += (
        "> From: Jan Novák <jan@strojirny-brno.test>\n> Date: Mon, Mar 4, 2024 at 9:15 AM\n> Subject: Offer\n>\n> Hi"
    )
    # Then under Re: it is a reply's quote, and with no prefix (or a forward one) still a forward
    found = find_inline_quote(text, outer_subject="Re: Offer")
    assert found is not None and found.kind == "reply"
    for subject in ("Offer", "Fwd: Offer"):
        found = find_inline_quote(text, outer_subject=subject)
        assert found is not None and found.kind == "forward"


@pytest.mark.parametrize(
    ("subject", "strict", "kind"),
    [
        ("Offer", False, "forward"),  # sent to us with no prefix: Outlook's block is a forward
        ("RE: Offer", False, "reply"),
        ("Offer", True, "reply"),  # inside a forward, an unprefixed mail over a block is a conversation
        ("FW: Offer", True, "forward"),
        ("RE: Offer", True, "reply"),
    ],
)
def test_outlook_block_by_subject_and_level(subject: str, strict: bool, kind: str) -> None:
    text = "Note.\n\n-----Original Message-----\nFrom: Jan Novák <jan@strojirny-brno.test>\nSent: Monday, March 4, "
    text += "2024 9:15 AM\nTo: Anna Nowak <anna.nowak@example.com>\nSubject: Offer\n\nHello"
    found = find_inline_quote(text, outer_subject=subject, strict=strict)
    assert found is not None and found.kind == kind


def test_a_forward_separator_inside_a_reply_level_is_history() -> None:
    # A forwarded mail that answers a forward ("RE:") quotes it: that forward is not a further level
    text = "Answer.\n\n---------- Forwarded message ---------\nFrom: Jan Novák <jan@strojirny-brno.test>\n"
    text += "Date: Mon, Mar 4, 2024 at 9:15 AM\nSubject: Offer\nTo: x@strojirny-brno.test\n\nHello"
    found = find_inline_quote(text, outer_subject="RE: Offer", strict=True)
    assert found is not None and found.kind == "reply"


def test_a_level_is_searched_near_its_top_only() -> None:
    # Given a forward whose forwarded mail holds another forward header only after STRICT_SCAN_LINES lines of text
    filler = "\n".join(f"line {i}" for i in range(STRICT_SCAN_LINES))
    message = mail(
        "From: Anna Nowak <anna.nowak@example.com>\nTo: assistant@crm.example.com\nSubject: Fwd: FW: Offer\n\n"
        "---------- Forwarded message ---------\nFrom: Piotr Zieliński <piotr.zielinski@example.com>\n"
        "Date: Mon, Mar 4, 2024 at 9:15 AM\nSubject: FW: Offer\nTo: anna.nowak@example.com\n\n\n"
        f"{filler}\n\n-----Original Message-----\nFrom: Jan Kowalski <jan.kowalski@acme-logistics.pl>\n"
        "Sent: Monday, March 4, 2024 9:00 AM\nTo: piotr.zielinski@example.com\nSubject: Offer\n\nHello\n"
    )
    # Then only the first level is read: bounded work per level, whatever the size
    chain = read_chain(message, parse=parse_message, is_internal=internal)
    assert [level.from_.address for level in chain.levels if level.from_] == ["piotr.zielinski@example.com"]


def test_a_reply_is_no_forward_for_unwrap() -> None:
    chain = read_chain(
        parse_message((CHAINS / "reply_outlook_en_to_assistant.eml").read_bytes()),
        parse=parse_message,
        is_internal=internal,
    )
    assert chain.original is None and chain.outermost is None
    assert [level.how for level in chain.levels] == ["quoted"]
