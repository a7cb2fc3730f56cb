"""linker.parse on real-format messages: headers, RFC 2047 encoded words, raw 8-bit headers, ids and dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from linker.model import Mailbox
from linker.parse import parse_message
from tests.linker.parse_support import DASH, load


def test_outlook_encoded_words_in_three_charsets() -> None:
    message = load("outlook_rfc2047_mixed_charsets.eml")

    assert message.parser == "flanker"
    assert message.defects == ()
    assert message.from_ == (Mailbox("Paweł Wiśniewski", "pawel.wisniewski@meblex.pl"),)
    assert message.to == (
        Mailbox("Zuzana Dvořáková", "zuzana.dvorakova@novak-stavby.cz"),
        Mailbox("Ion Popescu", "ion.popescu@mobila-brasov.ro"),
    )
    assert message.cc == (Mailbox("Ana-Maria Ionescu", "ana.ionescu@mobila-brasov.ro"),)
    # A windows-1250 Q word and a UTF-8 B word, folded onto two lines.
    assert message.subject == f"Oferta na dostawę krzeseł {DASH} żółte i błękitne"
    assert message.header("thread-topic") == message.subject
    assert message.message_id == "AM0PR07MB6417A1B2C3D4E5F6A7B8C9D0E1F2@AM0PR07MB6417.eurprd07.prod.outlook.com"
    assert message.date == datetime(2024, 5, 14, 9, 41, 17, tzinfo=UTC)


def test_headers_are_all_there_decoded_and_in_order() -> None:
    message = load("outlook_rfc2047_mixed_charsets.eml")

    names = [name.lower() for name, _ in message.headers]
    assert names[:5] == ["received", "from", "to", "cc", "subject"]
    assert names.count("received") == 1
    assert "x-ms-has-attach" in names
    assert message.header("From") == "Paweł Wiśniewski <pawel.wisniewski@meblex.pl>"
    assert all("\n" not in value and "\r" not in value for _, value in message.headers)
    assert (message.header("content-type") or "").startswith("multipart/alternative")


def test_broken_encoded_words_are_read_leniently() -> None:
    message = load("broken_rfc2047.eml")

    # A character split across two B words, a word without padding; an unknown charset and an unterminated word
    # are left as written.
    assert message.subject == "Re: Zażółć i gęślą jaźń (=?x-unknown?Q?cena?=) =?utf-8?Q?oferta"
    # An encoded word inside quotes (wrong, but Outlook and others do it).
    assert message.from_ == (Mailbox("Jiří Novák", "jiri.novak@novak-stavby.cz"),)


def test_raw_utf8_headers() -> None:
    message = load("thunderbird_raw_utf8_headers.eml")

    assert message.subject == f"Objednávka židlí {DASH} potvrzení"
    assert message.from_ == (Mailbox("Zuzana Dvořáková", "zuzana.dvorakova@novak-stavby.cz"),)
    assert message.to == (Mailbox("Paweł Wiśniewski", "pawel.wisniewski@meblex.pl"),)
    assert message.text is not None and "potvrzuji objednávku 40 židlí" in message.text


def test_raw_cp1250_headers_and_body() -> None:
    message = load("legacy_cp1250_raw_headers.eml")

    assert message.parser == "flanker"
    assert message.subject == "Zamówienie - żółte krzesła, 12 szt."
    assert message.from_ == (Mailbox("Małgorzata Wójcik", "m.wojcik@biuro-wojcik.pl"),)
    assert message.to == (Mailbox("Paweł Wiśniewski", "pawel.wisniewski@meblex.pl"),)
    assert message.text is not None and "zamawiam 12 żółtych krzeseł" in message.text


def test_utf8_headers_on_a_cp1250_body() -> None:
    # Given a client that writes its headers in UTF-8 but the body in windows-1250
    raw = (
        "From: Paweł Wiśniewski <pawel@meblex.pl>\r\nSubject: Żółte krzesła\r\n"
        "Content-Type: text/plain; charset=windows-1250\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + "Cześć, krzesła są żółte.\r\n".encode("cp1250")

    message = parse_message(raw)

    # Then each is read in its own charset
    assert message.subject == "Żółte krzesła"
    assert message.from_ == (Mailbox("Paweł Wiśniewski", "pawel@meblex.pl"),)
    assert message.text == "Cześć, krzesła są żółte.\r\n"


def test_undeclared_8bit_header_falls_back_to_cp1250() -> None:
    raw = "Subject: Zapytanie o cenę\r\nFrom: a@b.pl\r\n\r\nCena?\r\n".encode("cp1250")

    message = parse_message(raw)

    assert message.subject == "Zapytanie o cenę"


def test_smtputf8_addresses() -> None:
    message = load("smtputf8_address.eml")

    assert message.from_ == (Mailbox("Józef Wiśniewski", "józef@przykład.pl"),)
    assert message.to == (
        Mailbox("Paweł", "pawel.wisniewski@meblex.pl"),
        Mailbox(None, "zuzana@novák-stavby.cz"),
    )
    assert message.reply_to == (Mailbox("Wiśniewski, Józef", "józef@przykład.pl"),)
    assert message.message_id == "c0ffee00-1234-4cde-8f00-abcdef012345@przykład.pl"


def test_thread_ids_without_brackets() -> None:
    message = load("apple_mail_text_only.eml")

    assert message.message_id == "7A3F2C1B-9D4E-4F5A-8B6C-0D1E2F3A4B5C@mobila-brasov.ro"
    assert message.in_reply_to == ("AM0PR07MB6417A1B2C3D4E5F6A7B8C9D0E1F2@AM0PR07MB6417.eurprd07.prod.outlook.com",)
    assert message.references == (
        "20240516112000.4f2a@mobila-brasov.ro",
        "AM0PR07MB6417A1B2C3D4E5F6A7B8C9D0E1F2@AM0PR07MB6417.eurprd07.prod.outlook.com",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 14 May 2024 09:41:17 +0200", datetime(2024, 5, 14, 9, 41, 17, tzinfo=timezone(timedelta(hours=2)))),
        ("Tue, 14 May 2024 09:41:17 -0000", datetime(2024, 5, 14, 9, 41, 17, tzinfo=UTC)),
        ("14 May 2024 09:41:17", datetime(2024, 5, 14, 9, 41, 17, tzinfo=UTC)),
        ("Thu, 30 May 2024 10:50:00 +0200 (CEST)", datetime(2024, 5, 30, 8, 50, tzinfo=UTC)),
        ("2024-05-14T09:41:17+00:00", datetime(2024, 5, 14, 9, 41, 17, tzinfo=UTC)),
        ("Foo, 99 Bar 2021 25:61:00 +9999", None),
        ("", None),
    ],
)
def test_dates_are_aware_or_none(value: str, expected: datetime | None) -> None:
    message = parse_message(f"From: a@b.pl\r\nDate: {value}\r\n\r\nx\r\n".encode())

    assert message.date == expected
    assert message.date is None or message.date.tzinfo is not None


def test_no_date_and_no_subject() -> None:
    message = parse_message(b"From: a@b.pl\r\n\r\nx\r\n")

    assert (message.date, message.subject, message.message_id) == (None, None, None)
    assert (message.in_reply_to, message.references) == ((), ())
