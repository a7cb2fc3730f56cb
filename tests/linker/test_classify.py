"""The kind of a message (``bcc``, ``forward``, ``redirect``) and its direction, as DESIGN.md defines them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from linker.classify import Submission, classify, sender_of
from linker.model import Link, Mailbox, ParsedMessage
from linker.parse import parse_message
from linker.pipeline import Envelope, plan_message
from linker.unwrap import unwrap
from tests.linker.support import ANNA, ASSISTANT, PIOTR, SETTINGS, directory, internal, load, mail

BY_ANNA = Submission("anna.nowak@example.com", "envelope", ANNA)
ENVELOPE = Envelope("anna.nowak@example.com", (ASSISTANT,))
#: Anna, as the gateway proved her.
PROVEN = Envelope(ANNA.email, (ASSISTANT,), ANNA.email, "dkim")

BCC = f"""\
From: Anna Nowak <anna.nowak@example.com>
To: Jan Kowalski <jan.kowalski@acme-logistics.pl>
Bcc: {ASSISTANT}
Subject: Oferta na odnowienie floty OP-123
Date: Mon, 23 Nov 2026 10:00:00 +0100
Message-ID: <a7b8c9d0-oferta@example.com>

Dzień dobry Panie Janie,

w załączeniu oferta.
"""


def gmail_forward(original_from: str, *, to: str = "Anna Nowak <anna.nowak@example.com>") -> str:
    """Anna forwards (Gmail, inline) a message from ``original_from``."""
    return f"""\
From: Anna Nowak <anna.nowak@example.com>
To: {ASSISTANT}
Subject: Fwd: Zapytanie ofertowe - transport chłodniczy
Date: Mon, 4 Mar 2024 10:02:00 +0100
Message-ID: <CAF3kq9xN2-fwd-1@mail.gmail.com>

Do obsłużenia, pilne.

---------- Forwarded message ---------
From: {original_from}
Date: Mon, Mar 4, 2024 at 9:15 AM
Subject: Zapytanie ofertowe - transport chłodniczy
To: {to}


Dzień dobry,

prosimy o ofertę na transport chłodniczy Poznań - Praga.
"""


def kind_of(message: ParsedMessage, submission: Submission | None = BY_ANNA) -> tuple[str, str]:
    forwarded = unwrap(message, parse=parse_message, is_internal=internal)
    return classify(message, forwarded, submission, users=directory().users, settings=SETTINGS)


def test_bcc_from_the_submitter_is_outgoing_to_its_recipients() -> None:
    # Given Anna's own mail with the assistant in Bcc
    message = mail(BCC)
    assert kind_of(message) == ("bcc", "outgoing")
    # When it is planned, then the correspondents are its To and Cc, and the original is the message itself
    plan = plan_message(message, envelope=ENVELOPE, settings=SETTINGS, directory=directory())
    assert (plan.kind, plan.direction, plan.decision) == ("bcc", "outgoing", "accept")
    assert plan.original is not None and plan.original.forwarded is None
    assert plan.original.from_ == Mailbox("Anna Nowak", "anna.nowak@example.com")
    assert [(p.address, p.role, p.internal) for p in plan.participants] == [
        ("anna.nowak@example.com", "from", True),
        ("jan.kowalski@acme-logistics.pl", "to", False),
    ]


@pytest.mark.parametrize(
    ("original_from", "direction"),
    [
        pytest.param("Tomasz Wiśniewski <t.wisniewski@acme-logistics.pl>", "incoming", id="external-sender"),
        pytest.param("Anna Nowak <anna.nowak@example.com>", "outgoing", id="the-submitter"),
        # Anna's alias is still Anna: her own sent mail, forwarded
        pytest.param("Anna Nowak <anna@example.com>", "outgoing", id="the-submitters-alias"),
    ],
)
def test_forward_direction_follows_the_original_sender(original_from: str, direction: str) -> None:
    message = mail(gmail_forward(original_from, to="Jan Kowalski <jan.kowalski@acme-logistics.pl>"))

    assert kind_of(message) == ("forward", direction)


def test_forward_files_the_original_not_the_forwarding() -> None:
    plan = plan_message(
        mail(gmail_forward("Tomasz Wiśniewski <t.wisniewski@acme-logistics.pl>")),
        envelope=ENVELOPE,
        settings=SETTINGS,
        directory=directory(),
    )

    assert (plan.kind, plan.direction) == ("forward", "incoming")
    assert plan.original is not None
    assert plan.original.from_ == Mailbox("Tomasz Wiśniewski", "t.wisniewski@acme-logistics.pl")
    assert plan.original.subject == "Zapytanie ofertowe - transport chłodniczy"
    assert plan.original.note == "Do obsłużenia, pilne."
    # The sender's domain is the client's: a domain match, so no lead
    assert Link("client", 3, "Acme Logistics", "domain") in plan.links
    assert plan.new_leads == ()


def test_mail_from_someone_else_reaching_a_user_is_a_redirect() -> None:
    # Given a client's mail that itself carries a forward, redirected to the assistant by Anna's mailbox rule
    message = mail(
        gmail_forward("Ewa Kowalczyk <ewa.kowalczyk@acme-logistics.pl>").replace(
            "From: Anna Nowak <anna.nowak@example.com>\nTo: " + ASSISTANT,
            "From: Jan Kowalski <jan.kowalski@acme-logistics.pl>\nTo: Anna Nowak <anna.nowak@example.com>",
        )
    )
    assert sender_of(message, SETTINGS) == "jan.kowalski@acme-logistics.pl"
    via_to = Submission("anna.nowak@example.com", "To", ANNA)
    # When it is classified, then it is a redirect, incoming, whatever its body carries
    assert kind_of(message, via_to) == ("redirect", "incoming")
    plan = plan_message(
        message,
        envelope=Envelope("jan.kowalski@acme-logistics.pl", (ASSISTANT,)),
        settings=SETTINGS,
        directory=directory(),
    )
    assert (plan.kind, plan.direction, plan.submitter) == ("redirect", "incoming", "anna.nowak@example.com")
    # And the email filed is the client's own message, not the one quoted in it
    assert plan.original is not None and plan.original.forwarded is None
    assert plan.original.from_ == Mailbox("Jan Kowalski", "jan.kowalski@acme-logistics.pl")


def test_a_colleagues_mail_reaching_the_submitter_is_a_redirect() -> None:
    message = mail("From: Piotr Zieliński <piotr.zielinski@example.com>\nTo: anna.nowak@example.com\nSubject: x\n\nx\n")

    assert kind_of(message, Submission("anna.nowak@example.com", "To", ANNA)) == ("redirect", "incoming")
    # The same mail submitted by Piotr himself is his BCC
    assert kind_of(message, Submission(PIOTR.email, "envelope", PIOTR)) == ("bcc", "outgoing")


def test_mail_the_user_sent_on_behalf_of_a_shared_mailbox_or_a_colleague_is_theirs() -> None:
    # Given Anna's offer sent from the team's shared mailbox ("send on behalf": Sender is hers, under her alias)
    on_behalf = (
        "From: Dział Sprzedaży <sprzedaz@example.com>\nSender: Anna Nowak <anna@example.com>\n"
        "To: Jan Kowalski <jan.kowalski@acme-logistics.pl>\nSubject: Oferta OP-123\n\nW załączeniu oferta.\n"
    )
    # Then it is her outgoing mail, not a redirect of someone else's
    assert kind_of(mail(on_behalf)) == ("bcc", "outgoing")
    plan = plan_message(mail(on_behalf), envelope=PROVEN, settings=SETTINGS, directory=directory())
    assert (plan.kind, plan.direction, plan.decision) == ("bcc", "outgoing", "accept")
    assert Link("contact", 10, "Jan Kowalski", "address") in plan.links
    # And the same as a delegate writing for Piotr
    for_piotr = on_behalf.replace(
        "Dział Sprzedaży <sprzedaz@example.com>", "Piotr Zieliński <piotr.zielinski@example.com>"
    )
    assert kind_of(mail(for_piotr)) == ("bcc", "outgoing")
    # A Sender that is not the submitter changes nothing: a client's list server, or Piotr for himself
    assert kind_of(mail(on_behalf.replace("anna@example.com", "bounces@lists.acme-logistics.pl"))) == (
        "redirect",
        "incoming",
    )
    assert kind_of(mail(for_piotr.replace("anna@example.com", PIOTR.email))) == ("redirect", "incoming")


def test_all_internal_mail_is_ignored_or_with_internal_file_linked_to_no_client_and_no_lead() -> None:
    # Given mail between colleagues only
    message = mail(
        f"""\
From: Anna Nowak <anna.nowak@example.com>
To: Piotr Zieliński <piotr.zielinski@example.com>
Cc: Zespół sprzedaży <team@sales.example.com>, {ASSISTANT}
Subject: Grafik dyżurów na grudzień
Date: Mon, 23 Nov 2026 12:00:00 +0100

Piotr, zerknij proszę na grafik.
"""
    )
    # When it is planned, then by default ([linker] internal = "ignore") it ends ignored, saying why
    ignored = plan_message(message, envelope=ENVELOPE, settings=SETTINGS, directory=directory())
    assert (ignored.decision, ignored.reason) == ("ignore", "internal only: no participant outside the organisation")
    assert ignored.new_leads == ()
    # And with internal = "file" it is accepted and kept, every participant internal, linked to its submitter only,
    # with no lead
    plan = plan_message(message, envelope=ENVELOPE, settings=replace(SETTINGS, internal="file"), directory=directory())
    assert (plan.decision, plan.kind, plan.direction) == ("accept", "bcc", "outgoing")
    assert [(p.address, p.internal) for p in plan.participants] == [
        ("anna.nowak@example.com", True),
        ("piotr.zielinski@example.com", True),
        ("team@sales.example.com", True),
    ]
    assert plan.links == (Link("user", ANNA.id, ANNA.name, "submitter"),)
    assert plan.new_leads == ()


def test_a_bounce_carrying_a_forward_is_a_redirect_not_a_forward() -> None:
    # Given an Exchange non-delivery report (multipart/report) that carries back Anna's own forward
    message = load("bounce_exchange_ndr_en.eml")
    assert message.is_report and len(message.attached_messages) == 1
    assert (message.subject or "").startswith("Undeliverable: Fwd:")
    # When it is planned, as it came through Anna's mailbox
    plan = plan_message(message, envelope=Envelope("", (ASSISTANT,)), settings=SETTINGS, directory=directory())
    # Then the report itself is the email: from the remote postmaster, not a lead, and not the attached message
    assert (plan.kind, plan.direction, plan.submitter) == ("redirect", "incoming", "anna.nowak@example.com")
    assert plan.original is not None and plan.original.forwarded is None
    assert plan.original.from_ == Mailbox("Microsoft Outlook", "postmaster@acme-logistics.pl")
    assert plan.original.subject == "Undeliverable: Fwd: Oferta OP-123"
    assert plan.new_leads == ()
    # And, a bounce, it ends ignored ([linker] automated = "ignore"), the report named as the reason
    assert (plan.decision, plan.reason) == ("ignore", "automated: delivery status notification (multipart/report)")
