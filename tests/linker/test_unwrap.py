"""Finding the original email inside a forward: attached or inline, nested, and never inside a report."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from linker.model import Mailbox, Original
from linker.parse import parse_message
from linker.unwrap import MAX_DEPTH, IsInternal, author_of, unwrap
from tests.conftest import FIXTURES
from tests.linker.support import ASSISTANT, internal, load, mail

CET = timezone(timedelta(hours=1))


def unwrapped(text_or_name: str, *, is_internal: IsInternal = internal) -> Original | None:
    """Unwrap a fixture (``NAME.eml``) or a message written out in the test."""
    message = load(text_or_name) if text_or_name.endswith(".eml") else mail(text_or_name)
    return unwrap(message, parse=parse_message, is_internal=is_internal)


def test_nested_inline_forward_continues_past_the_internal_forwarder() -> None:
    # Given Anna's Thunderbird forward of Piotr's Outlook forward of a client's mail
    # When it is unwrapped
    original = unwrapped("nested_thunderbird_outlook_en.eml")
    # Then the client's mail comes out, under Anna's (outermost) note
    assert original is not None
    assert original.forwarded == "inline"
    assert original.from_ == Mailbox("Oliver Grant", "oliver.grant@northwind-traders.co.uk")
    assert original.to == (Mailbox("Piotr Zieliński", "piotr.zielinski@example.com"),)
    assert original.cc == (Mailbox("Hughes, Emma", "emma.hughes@northwind-traders.co.uk"),)
    assert original.subject == "Request for quotation: 40 pallets"
    assert original.date == datetime(2024, 3, 4, 9, 15, tzinfo=UTC)
    assert original.body == (
        "Hello,\n\nwe would like a quotation for 40 pallets to Gdańsk.\n\nKind regards,\nOliver Grant"
    )
    assert original.note == "Please file this under Northwind, Piotr passed it on to me."


def test_the_deepest_external_sender_is_the_original_even_below_an_external_forwarder() -> None:
    # Were Piotr not one of us, the client's mail at the bottom would still be the original
    original = unwrapped("nested_thunderbird_outlook_en.eml", is_internal=lambda address: False)

    assert original is not None
    assert original.from_ == Mailbox("Oliver Grant", "oliver.grant@northwind-traders.co.uk")
    assert original.note == "Please file this under Northwind, Piotr passed it on to me."
    # and Piotr's forward is kept as the chain's first level
    assert [level.from_ for level in original.chain] == [
        Mailbox("Piotr Zieliński", "piotr.zielinski@example.com"),
        Mailbox("Oliver Grant", "oliver.grant@northwind-traders.co.uk"),
    ]


def test_deepest_external_sender_wins_over_the_client_who_forwarded_it() -> None:
    # Given a client who forwards their supplier's mail, forwarded on by Anna
    original = unwrapped(
        f"""\
From: Anna Nowak <anna.nowak@example.com>
To: {ASSISTANT}
Subject: Fwd: Fwd: Palety EUR - dostawa
Date: Tue, 5 Mar 2024 08:00:00 +0100

---------- Forwarded message ---------
From: Jan Kowalski <jan.kowalski@acme-logistics.pl>
Date: Mon, Mar 4, 2024 at 4:10 PM
Subject: Fwd: Palety EUR - dostawa
To: Anna Nowak <anna.nowak@example.com>


Pani Anno, proszę o kontakt w tej sprawie.

---------- Forwarded message ---------
From: Marek Zając <marek.zajac@palety-radom.pl>
Date: Mon, Mar 4, 2024 at 2:00 PM
Subject: Palety EUR - dostawa
To: Jan Kowalski <jan.kowalski@acme-logistics.pl>


Dostawa w czwartek.
"""
    )
    # Then the supplier's mail (the deepest external sender) is the original; the client is the chain's first level
    assert original is not None
    assert original.from_ == Mailbox("Marek Zając", "marek.zajac@palety-radom.pl")
    assert original.subject == "Palety EUR - dostawa"
    assert original.body == "Dostawa w czwartek."
    assert original.note is None
    assert [level.from_.address for level in original.chain if level.from_] == [
        "jan.kowalski@acme-logistics.pl",
        "marek.zajac@palety-radom.pl",
    ]


def test_attached_colleagues_forward_is_opened_and_its_inline_forward_read() -> None:
    # Given Anna's Outlook forward, as an attachment, of Ioana's inline forward of a client's order
    original = unwrapped("nested_outlook_attached_ro.eml")
    # Then the client's mail is read from inside the attached message, with Anna's note
    assert original is not None
    assert original.forwarded == "inline"
    assert original.from_ == Mailbox("Ion Popescu", "ion.popescu@globex.ro")
    assert original.to == (Mailbox("Ioana Munteanu", "ioana.munteanu@example.com"),)
    assert original.subject == "Comanda flota OP-124"
    assert original.date == datetime(2026, 11, 19, 17, 30, tzinfo=UTC)
    assert original.body == "Bună ziua,\n\nconfirmăm comanda pentru 12 autoutilitare.\n\nCu stimă,\nIon Popescu"
    assert original.message_id is None
    assert original.note == "For the Globex deal, see Ioana's mail below."


def test_forward_that_is_nothing_but_an_attached_message() -> None:
    # Given Apple Mail's "Forward as Attachment": no text of its own, one message/rfc822 part
    message = load("attached_only_apple_mail_pl.eml")
    assert message.text is None and len(message.attached_messages) == 1
    # When it is unwrapped
    original = unwrap(message, parse=parse_message, is_internal=internal)
    # Then the attached message is the original, whole, with its own Message-ID and no note
    assert original is not None
    assert original.forwarded == "attached"
    assert original.from_ == Mailbox("Tomasz Wiśniewski", "t.wisniewski@acme-logistics.pl")
    assert original.to == (Mailbox("Anna Nowak", "anna.nowak@example.com"),)
    assert original.cc == (Mailbox("Ewa Kowalczyk", "ewa.kowalczyk@acme-logistics.pl"),)
    assert original.subject == "Zapytanie o transport chłodniczy"
    assert original.message_id == "0f1e2d3c-acme-zapytanie-77@acme-logistics.pl"
    assert original.date == datetime(2024, 3, 6, 11, 3, 27, tzinfo=CET)
    assert original.body == (
        "Dzień dobry,\n\nprosimy o ofertę na transport chłodniczy Poznań - Praga.\n\nPozdrawiam,\nTomasz Wiśniewski"
    )
    assert original.note is None


def test_a_saved_message_attached_as_a_file_is_the_forwarded_message() -> None:
    # Given a webmail forward whose saved .eml went out as application/octet-stream, not message/rfc822
    message = load("attached_eml_file_roundcube_cs.eml")
    assert message.attachments[0].content_type == "application/octet-stream"
    original = unwrap(message, parse=parse_message, is_internal=internal)
    # Then it is read as an attached forward, with the forwarder's text as the note
    assert original is not None and original.forwarded == "attached"
    assert original.from_ == Mailbox("Jan Novák", "jan.novak@strojirny-brno.cz")
    assert original.subject == "Objednávka č. 2024/131"
    assert original.message_id == "CAK7x2Pq-objednavka-131@strojirny-brno.cz"
    assert original.note == "Posílám objednávku od Strojíren Brno, uložená zpráva je v příloze.\n\nPetra"


def test_a_forwarded_message_a_google_group_rewrote_is_its_author_s() -> None:
    # Given Anna's forward of client mail the company's Google Group delivered as "'Tomasz' via Sprzedaż"
    original = unwrapped("attached_google_group_pl.eml")
    # Then the client wrote it (X-Original-From), not the group
    assert original is not None and original.forwarded == "attached"
    assert original.from_ == Mailbox("Tomasz Wiśniewski", "t.wisniewski@acme-logistics.pl")
    assert original.to == (Mailbox("Sprzedaż", "sprzedaz@example.com"),)


@pytest.mark.parametrize(
    ("headers", "author"),
    [
        # Mailman: the author in Reply-To
        ("From: Jan Nowak via Klienci <klienci@lists.example.org>\nReply-To: Jan <jan@acme.test>", "jan@acme.test"),
        # Google Groups' X-Original-From wins over Reply-To
        (
            "From: 'Jan' via Sales <sales@example.com>\nReply-To: sales@example.com\n"
            "X-Original-From: Jan <jan@acme.test>",
            "jan@acme.test",
        ),
        # Not rewritten: From is the author, whatever Reply-To says
        ("From: Jan Nowak <jan@acme.test>\nReply-To: Billing <billing@acme.test>", "jan@acme.test"),
        # Rewritten, but nothing names one author: the group stays
        ("From: Jan via Sales <sales@example.com>\nReply-To: a@acme.test, b@acme.test", "sales@example.com"),
        ("From: Jan via Sales <sales@example.com>", "sales@example.com"),
    ],
)
def test_the_author_of_mail_a_group_rewrote(headers: str, author: str) -> None:
    message = mail(f"{headers}\nTo: anna.nowak@example.com\nSubject: Oferta\n\nDzień dobry")
    assert (author_of(message) or Mailbox(None, None)).address == author


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("notes.eml", "Meeting notes: prices agreed, see you Monday."),  # no header block
        ("headers.eml", "Subject: a list of things\r\nPriority: high\r\n\r\nno sender"),  # no From line
        ("message.txt", "From: Jan <jan@example.cz>\r\nSubject: Hi\r\n\r\nHi"),  # not a saved message's name
    ],
)
def test_a_file_that_is_no_saved_message_stays_an_attachment(filename: str, data: str) -> None:
    attachment = base64.b64encode(data.encode()).decode()
    message = mail(
        "From: Anna Nowak <anna.nowak@example.com>\nTo: assistant@crm.example.com\nSubject: Fwd: notes\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nSee.\n'
        f"--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename={filename}\n"
        f"Content-Transfer-Encoding: base64\n\n{attachment}\n--b--\n"
    )
    assert message.attached_messages == () and len(message.attachments) == 1


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "linker" / "bounce_exchange_ndr_en.eml",
        FIXTURES / "parse" / "postfix_bounce_dsn.eml",
        FIXTURES / "parse" / "outlook_read_receipt_mdn.eml",
    ],
    ids=lambda p: p.name,
)
def test_reports_are_never_forwards(path: Path) -> None:
    message = parse_message(path.read_bytes())
    assert message.is_report

    assert unwrap(message, parse=parse_message, is_internal=internal) is None


def test_report_check_is_what_stops_the_bounce() -> None:
    # The same bytes with the report type renamed are a forward of the attached message: the check is not idle
    raw = (FIXTURES / "linker" / "bounce_exchange_ndr_en.eml").read_bytes()
    message = parse_message(raw.replace(b"multipart/report", b"multipart/mixed"))
    assert not message.is_report

    original = unwrap(message, parse=parse_message, is_internal=internal)
    assert original is not None and original.forwarded is not None


def test_plain_mail_has_no_forward() -> None:
    assert (
        unwrapped(f"From: Anna Nowak <anna.nowak@example.com>\nTo: {ASSISTANT}\nSubject: Hi\n\nNo forward.\n") is None
    )


def test_a_chain_of_colleagues_is_unwrapped_at_most_max_depth_levels() -> None:
    # Given a forward of a forward… by colleagues, deeper than MAX_DEPTH, around a client's mail
    levels = MAX_DEPTH + 3
    body = "Prosimy o ofertę."
    sender = "Jan Kowalski <jan.kowalski@acme-logistics.pl>"
    for level in range(levels):
        body = (
            f"Level {level}.\n\n---------- Forwarded message ---------\nFrom: {sender}\n"
            f"Date: Mon, Mar 4, 2024 at 9:15 AM\nSubject: Oferta\nTo: team@example.com\n\n\n{body}"
        )
        sender = f"Kolega {level} <kolega{level}@example.com>"
    original = unwrapped(f"From: {sender}\nTo: {ASSISTANT}\nSubject: Fwd: Oferta\n\n{body}\n")
    # Then unwrapping reads MAX_DEPTH levels and gives up there, still at a colleague (the deepest level read)
    assert original is not None and original.from_ is not None
    assert len(original.chain) == MAX_DEPTH
    assert original.from_.address == f"kolega{levels - MAX_DEPTH - 1}@example.com"
    assert original.note == f"Level {levels - 1}."
