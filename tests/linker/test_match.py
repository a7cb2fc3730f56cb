"""Matching participants to the directory, and which addresses become leads."""

from __future__ import annotations

from linker.directory import Contact, Entity, Lead, People, User
from linker.match import Lookups, link_records, match_people
from linker.model import Code, Link, Mailbox, Original
from linker.settings import IgnoreRule, LinkerSettings

SETTINGS = LinkerSettings.build(
    assistant_addresses=["assistant@crm.example.com"],
    organization_domains=["example.com"],
    ignore_rules=[IgnoreRule("vendor", "*@billing.vendor.test")],
)
ANNA = User(1, "anna.nowak@example.com", "Anna Nowak")


def original(*to: Mailbox, sender: Mailbox | None = None, cc: tuple[Mailbox, ...] = ()) -> Original:
    return Original(
        sender or Mailbox("Anna Nowak", "anna.nowak@example.com"), tuple(to), cc, None, "s", None, "", None, None
    )


def test_each_kind_of_match_in_order() -> None:
    lookups = Lookups(
        users={"anna.nowak@example.com": ANNA},
        people=People(
            contacts={"jan@acme-logistics.pl": Contact(10, "Jan Kowalski", 3, "Acme Logistics")},
            client_emails={"biuro@acme-logistics.pl": Entity(3, "Acme Logistics")},
            leads={"eva@startup.cz": Lead(7, "eva@startup.cz", "Eva Malá")},
            client_domains={"globex.ro": Entity(4, "Globex"), "gmail.com": Entity(5, "Misconfigured")},
        ),
    )
    o = original(
        Mailbox("Jan", "Jan@Acme-Logistics.pl"),
        Mailbox(None, "biuro@acme-logistics.pl"),
        Mailbox("Eva", "eva@startup.cz"),
        Mailbox("Ion Popescu", "ion@globex.ro"),
        Mailbox("Friend", "friend@gmail.com"),
        Mailbox(None, "assistant@crm.example.com"),
    )
    participants, links, leads = match_people(o, lookups, SETTINGS, automated=False)
    by_address = {p.address: p for p in participants}
    assert "assistant@crm.example.com" not in by_address
    assert by_address["anna.nowak@example.com"].internal
    assert by_address["anna.nowak@example.com"].match is not None
    assert by_address["jan@acme-logistics.pl"].match.via == "contact"  # type: ignore[union-attr]
    assert by_address["biuro@acme-logistics.pl"].match.via == "client-email"  # type: ignore[union-attr]
    assert by_address["eva@startup.cz"].match.via == "lead"  # type: ignore[union-attr]
    assert by_address["ion@globex.ro"].match.via == "client-domain"  # type: ignore[union-attr]
    # free-mail never matches by domain, even if a client claims it
    assert by_address["friend@gmail.com"].match is None
    assert Link("contact", 10, "Jan Kowalski", "address") in links
    assert Link("client", 3, "Acme Logistics", "address") in links
    assert Link("lead", 7, "Eva Malá", "address") in links
    assert Link("client", 4, "Globex", "domain") in links
    assert [(n.address, n.name, n.company) for n in leads] == [("friend@gmail.com", "Friend", None)]


def test_new_leads_get_names_and_companies_but_never_for_internal_automated_or_ignored() -> None:
    o = original(
        Mailbox("Tomasz Wiśniewski", "t.wisniewski@nowa-firma.pl"),
        Mailbox(None, "colleague@example.com"),
        Mailbox(None, "no-reply@shop.test"),
        Mailbox("Billing", "invoices@billing.vendor.test"),
        Mailbox("'bare@addr.cz'", "bare@addr.cz"),
    )
    _, _, leads = match_people(o, Lookups(), SETTINGS, automated=False)
    assert [(n.address, n.name, n.company) for n in leads] == [
        ("t.wisniewski@nowa-firma.pl", "Tomasz Wiśniewski", "Nowa Firma"),
        ("bare@addr.cz", None, "Addr"),
    ]


def test_automated_mail_makes_no_leads() -> None:
    o = original(sender=Mailbox("Shop", "orders@shop.test"))
    _, _, leads = match_people(o, Lookups(), SETTINGS, automated=True)
    assert leads == []


def test_all_internal_mail_links_no_client_and_makes_no_lead() -> None:
    o = original(Mailbox("Ioana", "ioana.popescu@example.com"), Mailbox(None, "team@sales.example.com"))
    participants, links, leads = match_people(
        o, Lookups(users={"anna.nowak@example.com": ANNA}), SETTINGS, automated=False
    )
    assert all(p.internal for p in participants)
    assert links == [] and leads == []


def test_each_address_once_even_with_other_case_or_roles() -> None:
    o = original(Mailbox("Jan", "jan@x.test"), cc=(Mailbox("JAN", "JAN@X.TEST"),))
    participants, _, leads = match_people(o, Lookups(), SETTINGS, automated=False)
    assert [p.address for p in participants] == ["anna.nowak@example.com", "jan@x.test"]
    assert len(leads) == 1


def test_records_from_codes_then_thread() -> None:
    codes = [Code("OP-1", "deal", 11, "OP-1"), Code("OP-9", "deal", None, None)]
    thread = [
        Link("record", 11, "OP-1", "thread", 5, "a@x.test"),
        Link("client", 3, "Acme", "thread", 5, "a@x.test"),
        Link("record", 12, "OP-2", "thread", 5, "a@x.test"),
    ]
    assert link_records(codes, thread) == [
        Link("record", 11, "OP-1", "code"),
        Link("record", 12, "OP-2", "thread", 5, "a@x.test"),
    ]


def test_a_display_name_that_looks_like_an_address_never_names_a_lead() -> None:
    o = original(
        Mailbox("john@acme.test", "attacker@evil.test"),
        Mailbox("'greta@globex.ro' via Sales", "mallory@evil2.test"),
        Mailbox("john\uff20acme.test", "fullwidth@evil3.test"),
        Mailbox("Marta Dvořáková", "marta@nova-firma.cz"),
    )

    _participants, _links, leads = match_people(o, Lookups(), SETTINGS, automated=False)

    # Named by the real address (no name), so the viewer never shows a lead "john@acme.test"
    assert [(n.address, n.name) for n in leads] == [
        ("attacker@evil.test", None),
        ("mallory@evil2.test", None),
        ("fullwidth@evil3.test", None),
        ("marta@nova-firma.cz", "Marta Dvořáková"),
    ]
