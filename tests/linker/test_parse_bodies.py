"""linker.parse on real-format messages: charsets, text and HTML bodies, and attachments."""

from __future__ import annotations

import hashlib
import sys

import pytest

from linker.model import Mailbox
from linker.parse import parse_message
from tests.linker.parse_support import DASH, load


def test_unknown_charset_read_as_utf8_and_recorded() -> None:
    message = load("unknown_charset.eml")

    assert message.text == (
        "Bună ziua,\r\nvă rog să confirmați termenul de livrare pentru scaunele comandate.\r\nMulțumesc,\r\n"
        "Ion Popescu\r\n"
    )
    assert any("x-user-defined" in defect for defect in message.defects)


def test_unknown_charset_on_legacy_bytes_reads_cp1250() -> None:
    raw = (
        b"From: a@b.pl\r\nContent-Type: text/plain; charset=x-mac-ce-unknown\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Dzień dobry, proszę o ofertę.".encode("cp1250")
    )

    message = parse_message(raw)

    assert message.text == "Dzień dobry, proszę o ofertę."


def test_text_that_is_not_its_declared_charset() -> None:
    raw = b"From: a@b.pl\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nab\xff\xfecd"

    message = parse_message(raw)

    assert message.text == "ab\ufffd\ufffdcd"
    assert "text is not valid utf-8" in message.defects


def test_text_only() -> None:
    message = load("apple_mail_text_only.eml")

    assert message.html is None
    assert message.text is not None
    assert message.text.startswith("Bună ziua,\r\n\r\nLivrarea se poate face joi, între orele 9 și 12.")
    assert message.subject == "Re: Livrare scaune și mese"
    assert message.cc == (Mailbox("Ion Popescu", "ion.popescu@mobila-brasov.ro"),)
    assert message.attachments == ()


def test_html_only_gets_text_from_the_html() -> None:
    message = load("hubspot_html_only.eml")

    assert message.html is not None and message.html.startswith("<!DOCTYPE html>")
    assert message.text is not None
    assert "Dobrý den, paní Dvořáková," in message.text
    assert message.from_ == (Mailbox("Tomáš Procházka", "tomas.prochazka@meblex.pl"),)


def test_html_to_text_fallback_when_the_converter_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no linker.forwards.html (None in sys.modules makes the import fail)
    monkeypatch.setitem(sys.modules, "linker.forwards.html", None)

    message = load("hubspot_html_only.eml")

    assert message.text is not None
    assert "<" not in message.text and "track()" not in message.text and "margin" not in message.text
    assert "děkujeme za Váš zájem o kancelářské židle. V příloze najdete ceník & podmínky." in message.text
    assert "Židle Ergo" in message.text and "Tomáš Procházka" in message.text


def test_alternative_text_and_html_come_from_their_own_parts() -> None:
    message = load("gmail_alternative.eml")

    assert message.text == (
        "Cześć Paweł,\r\n\r\ndzięki za szybką odpowiedź. Biorę 20 sztuk w kolorze szarym.\r\n\r\nPozdrawiam,\r\n"
        "Katarzyna\r\n"
    )
    assert message.html is not None and message.html.startswith('<div dir="ltr"><div>Cześć Paweł,</div>')
    assert message.attachments == ()


def test_empty_text_part_is_replaced_by_text_of_the_html() -> None:
    raw = (
        b'From: a@b.pl\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Hello</p>\r\n--b--\r\n"
    )

    message = parse_message(raw)

    assert message.text is not None and "Hello" in message.text


def test_rfc2231_and_encoded_word_filenames() -> None:
    message = load("thunderbird_rfc2231_attachments.eml")

    assert message.text == "Dobrý den,\r\nv příloze posílám cenovou nabídku a technickou specifikaci.\r\n\r\nZuzana\r\n"
    assert [a.filename for a in message.attachments] == [
        f"Nabídka {DASH} židle.pdf",  # filename*=UTF-8''…
        "Specificație tehnică mobilier birou.docx",  # filename*0*= / filename*1*= continuations
        "Cennik żółty.xlsx",  # only an encoded word in Content-Type name=
    ]
    pdf, docx, xlsx = message.attachments
    assert pdf.content_type == "application/pdf"
    assert pdf.data.startswith(b"%PDF-1.4") and pdf.data.endswith(b"%%EOF\n")
    assert docx.data == b"PK\x03\x04" + bytes(range(256)) * 4
    assert xlsx.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    for attachment in message.attachments:
        assert attachment.size == len(attachment.data)
        assert attachment.sha256 == hashlib.sha256(attachment.data).hexdigest()
        assert (attachment.inline, attachment.content_id) == (False, None)


def test_inline_cid_image() -> None:
    message = load("apple_mail_inline_image.eml")

    (image,) = message.attachments
    assert image.content_id == "B6F7C2A1-3D4E-4F5A-9B8C-7D6E5F4A3B2C@mobila-brasov.ro"
    assert image.inline is True
    assert (image.filename, image.content_type) == ("culoare.png", "image/png")
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert message.html is not None and f"cid:{image.content_id}" in message.html
    # multipart/alternative inside: the text/plain part, not text of the HTML
    assert message.text == "Bună ziua,\r\n\r\nCuloarea dorită este cea din imagine.\r\n\r\nAna-Maria\r\n"


def test_winmail_dat_is_an_attachment() -> None:
    message = load("outlook_winmail_dat.eml")

    (tnef,) = message.attachments
    assert (tnef.filename, tnef.content_type) == ("winmail.dat", "application/ms-tnef")
    assert tnef.data.startswith(b"\x78\x9f\x3e\x22")  # the TNEF signature
    assert message.from_ == (Mailbox("Novák, Jiří", "jiri.novak@novak-stavby.cz"),)
    assert message.text == "Dobrý den,\r\nposílám návrh smlouvy.\r\nJiří Novák\r\n"


def test_attached_message_is_kept_raw_and_not_searched() -> None:
    message = load("thunderbird_forward_attached.eml")

    assert message.text == "Proszę podpiąć pod klienta Lewandowska.\r\n"
    # The forwarded mail's PDF belongs to the forwarded mail, not to the forward.
    assert message.attachments == ()
    (inner_raw,) = message.attached_messages
    inner = parse_message(inner_raw)
    assert inner.subject == "Zamówienie nr 2024-117"
    assert inner.from_ == (Mailbox("Katarzyna Lewandowska", "kasia.lewandowska@gmail.com"),)
    assert [a.filename for a in inner.attachments] == ["zamowienie-2024-117.pdf"]
    assert inner.text == "W załączeniu zamówienie.\r\nKatarzyna\r\n"


def test_nested_attached_messages_outermost_first() -> None:
    innermost = b"From: c@x.pl\r\nSubject: innermost\r\n\r\ndeep\r\n"
    middle = b'From: b@x.pl\r\nSubject: middle\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n'
    middle += b"--m\r\nContent-Type: message/rfc822\r\n\r\n" + innermost + b"--m--\r\n"
    raw = b'From: a@x.pl\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\n'
    raw += b"note\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n" + middle + b"--o\r\n"
    raw += b"Content-Type: message/rfc822\r\n\r\nFrom: d@x.pl\r\nSubject: second\r\n\r\nx\r\n--o--\r\n"

    message = parse_message(raw)

    assert [parse_message(m).subject for m in message.attached_messages] == ["middle", "second"]
    assert parse_message(parse_message(message.attached_messages[0]).attached_messages[0]).subject == "innermost"


def test_empty_attached_message_is_skipped_and_recorded() -> None:
    raw = (
        b'From: a@x.pl\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\n'
        b"note\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n\r\n--o--\r\n"
    )

    message = parse_message(raw)

    assert message.attached_messages == ()
    assert "attached message skipped: empty message" in message.defects
