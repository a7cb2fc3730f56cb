"""linker.parse on real-format messages: headers, charsets, bodies, attachments, reports, and the stdlib fallback."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from linker import parse
from linker.errors import LinkerError, UnreadableMessageError
from linker.model import Mailbox, ParsedMessage
from linker.parse import parse_addresses, parse_message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "parse"
ROOT = Path(__file__).resolve().parents[2]
DASH = "\u2013"  # what mail clients put in subjects and file names


def load(name: str) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes())


def read_with_email(raw: bytes) -> ParsedMessage:
    """The stdlib reading of ``raw``, as if flanker had failed."""
    context = parse.Context(raw)
    return parse.assemble(parse._read_with_email(context), context)


# ---- headers and RFC 2047 ----------------------------------------------------------------------------------------


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


# ---- charsets and bodies -----------------------------------------------------------------------------------------


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


# ---- attachments -------------------------------------------------------------------------------------------------


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


# ---- reports -----------------------------------------------------------------------------------------------------


def test_bounce_is_a_report() -> None:
    message = load("postfix_bounce_dsn.eml")

    assert message.is_report is True
    assert message.from_ == (Mailbox("Mail Delivery System", "MAILER-DAEMON@mx1.meblex.pl"),)
    assert message.text is not None and "550 5.1.1 User unknown" in message.text
    (returned,) = message.attached_messages
    assert parse_message(returned).message_id == "a1b2c3d4@meblex.pl"
    assert [a.content_type for a in message.attachments] == ["message/delivery-status"]
    assert b"Final-Recipient: rfc822; jan.kowalski@nieistniejaca-firma.pl" in message.attachments[0].data


def test_read_receipt_is_a_report() -> None:
    message = load("outlook_read_receipt_mdn.eml")

    assert message.is_report is True
    assert message.text is not None and "a fost citit vineri" in message.text
    assert message.attached_messages == ()


def test_abuse_report_is_a_report() -> None:
    raw = (
        b"From: abuse@mail.example\r\nSubject: FW: abuse report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="arf"\r\n\r\n'
        b"--arf\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        b"--arf\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n"
        b"--arf\r\nContent-Type: message/rfc822\r\n\r\nFrom: pawel@meblex.pl\r\nSubject: Oferta\r\n\r\nHi\r\n"
        b"--arf--\r\n"
    )

    message = parse_message(raw)

    assert message.is_report is True
    assert len(message.attached_messages) == 1


def test_ordinary_mail_is_not_a_report() -> None:
    assert load("gmail_alternative.eml").is_report is False


# ---- the stdlib fallback and unreadable messages -----------------------------------------------------------------


def test_flanker_chokes_on_a_rewritten_boundary_and_the_stdlib_reads_it() -> None:
    raw = (FIXTURES / "broken_boundary.eml").read_bytes()
    # Given a message flanker itself cannot read
    with pytest.raises(Exception, match="without starting boundary"):
        parse.load_flanker().mime.from_string(raw.decode())

    message = parse_message(raw)

    # Then the stdlib read it, and the message says so
    assert message.parser == "email"
    assert message.defects[0] == "flanker: DecodingError: Multipart message without starting boundary"
    assert message.subject == f"Zapytanie ofertowe {DASH} biurka"
    assert message.from_ == (Mailbox("Tomasz Zieliński", "t.zielinski@hurt-biuro.pl"),)
    # and found the boundary the parts really use
    assert message.text == "Dzień dobry,\r\nproszę o ofertę na 15 biurek narożnych.\r\nTomasz Zieliński\r\n"
    assert [a.filename for a in message.attachments] == ["rzut-biura.pdf"]


def test_multipart_without_any_boundary_is_read_as_text() -> None:
    raw = b"From: a@b.pl\r\nContent-Type: multipart/mixed\r\n\r\nplain words, no parts\r\n"

    message = parse_message(raw)

    assert message.parser == "email"
    assert message.text == "plain words, no parts\r\n"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.eml")))
def test_both_parsers_agree(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()

    ours, stdlib = parse_message(raw), read_with_email(raw)

    for field in ("from_", "sender", "to", "cc", "reply_to", "date", "subject", "message_id", "in_reply_to"):
        assert getattr(ours, field) == getattr(stdlib, field), field
    assert (ours.references, ours.text, ours.html, ours.is_report) == (
        stdlib.references,
        stdlib.text,
        stdlib.html,
        stdlib.is_report,
    )
    assert ours.attached_messages == stdlib.attached_messages
    # Header blocks (delivery-status, disposition-notification) are re-serialized by the stdlib; files are not.
    files = [a for a in ours.attachments if not a.content_type.startswith("message/")]
    assert files == [a for a in stdlib.attachments if not a.content_type.startswith("message/")]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b" \r\n\t\r\n", "empty message"),
        (bytes(range(256)) * 8, "no header and not text"),
        (b"\x00\x01\x02\x03PK\x03\x04\x00\x00\x00binary", "no header and not text"),
    ],
)
def test_garbage_is_unreadable(raw: bytes, reason: str) -> None:
    with pytest.raises(UnreadableMessageError) as caught:
        parse_message(raw)

    assert caught.value.reason == reason
    assert isinstance(caught.value, LinkerError)


def test_text_without_headers_is_readable() -> None:
    message = parse_message(b"Just a few words, no headers at all.\r\n")

    assert message.headers == ()
    assert message.text is not None and "Just a few words" in message.text


def test_unreadable_when_neither_parser_can(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise ValueError("nope")

    monkeypatch.setattr(parse, "_read_with_flanker", broken)
    monkeypatch.setattr(parse, "_read_with_email", broken)

    with pytest.raises(UnreadableMessageError, match=r"^flanker: ValueError: nope; email: ValueError: nope$"):
        parse_message(b"From: a@b.pl\r\n\r\nx")


def test_absurd_nesting_is_unreadable_or_cut() -> None:
    def nested(depth: int) -> bytes:
        parts = b"".join(b"Content-Type: multipart/mixed; boundary=B%d\r\n\r\n--B%d\r\n" % (i, i) for i in range(depth))
        return b"From: a@b.pl\r\n" + parts + b"\r\nx\r\n"

    assert f"parts nested deeper than {parse.MAX_DEPTH} dropped" in parse_message(nested(200)).defects
    with pytest.raises(UnreadableMessageError, match="RecursionError"):
        parse_message(nested(3000))


def test_text_has_no_nul_or_lone_surrogates() -> None:
    raw = b"From: a\x00b@c.pl\r\nSubject: x\x00y \xff\r\n\r\nbody\x00\xfe\r\n"

    message = parse_message(raw)

    texts = [message.text or "", message.subject or "", *(value for _, value in message.headers)]
    assert all("\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text) for text in texts)


# ---- addresses ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        ("jan@firma.pl", (Mailbox(None, "jan@firma.pl"),)),
        ("Jan Novák", (Mailbox("Jan Novák", None),)),
        (
            '"Kowalski, Jan" <jan@firma.pl>, anna@firma.pl',
            (Mailbox("Kowalski, Jan", "jan@firma.pl"), Mailbox(None, "anna@firma.pl")),
        ),
        # Outlook's forward blocks: "Last, First" unquoted, separated by semicolons
        (
            "Novák, Jan <jan.novak@klient.cz>; Dvořák, Petr <petr.dvorak@klient.cz>",
            (Mailbox("Novák, Jan", "jan.novak@klient.cz"), Mailbox("Dvořák, Petr", "petr.dvorak@klient.cz")),
        ),
        ("Müller, Hans <hans@x.de>", (Mailbox("Müller, Hans", "hans@x.de"),)),
        ("a@b.pl, Jan Novák, c@d.pl", (Mailbox(None, "a@b.pl"), Mailbox("Jan Novák", None), Mailbox(None, "c@d.pl"))),
        ("=?utf-8?q?J=C3=B3zef_Kowalski?= <józef@przykład.pl>", (Mailbox("Józef Kowalski", "józef@przykład.pl"),)),
        (
            "=?iso-8859-2?Q?Zuzana_Dvo=F8=E1kov=E1?= <zuzana@klient.cz>",
            (Mailbox("Zuzana Dvořáková", "zuzana@klient.cz"),),
        ),
        ("jan@firma.pl (Jan Kowalski)", (Mailbox("Jan Kowalski", "jan@firma.pl"),)),
        ("undisclosed-recipients:;", ()),
        ("Sprzedaż: ania@meblex.pl, ola@meblex.pl;", (Mailbox(None, "ania@meblex.pl"), Mailbox(None, "ola@meblex.pl"))),
        ("Ion Popescu <ion.popescu@client.ro> (Vânzări)", (Mailbox("Ion Popescu", "ion.popescu@client.ro"),)),
        ("Jan Kowalski jan@firma.pl", (Mailbox("Jan Kowalski", "jan@firma.pl"),)),
        ("<>", ()),
        ("Jan\r\n Kowalski <jan@firma.pl>", (Mailbox("Jan Kowalski", "jan@firma.pl"),)),
    ],
)
def test_parse_addresses(value: str, expected: tuple[Mailbox, ...]) -> None:
    assert parse_addresses(value) == expected


def test_parse_addresses_from_many_threads() -> None:
    value = "Paweł Wiśniewski <pawel@meblex.pl>, Novák, Jan <jan@klient.cz>"
    expected = parse_addresses(value)
    results: list[tuple[Mailbox, ...]] = []

    def work() -> None:
        results.extend(parse_addresses(value) for _ in range(200))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [expected] * 1600


# ---- importing flanker ---------------------------------------------------------------------------------------------

_IMPORT_AND_PARSE = """
import sys
import linker.parse
message = linker.parse.parse_message(b"From: a@b.c\\r\\n\\r\\nx")
assert message.parser == "flanker", message
assert linker.parse.parse_addresses("Novák, Jan <jan@x.cz>; a@b.c, (broken")
# Tables are never read from site-packages (another process may be writing them).
assert not [name for name in sys.modules if name.endswith("parsetab")], sorted(sys.modules)
"""


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "FLANKER_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    return env


def _tables_snapshot() -> dict[str, bytes]:
    spec = importlib.util.find_spec("flanker")  # finds the package without importing it
    assert spec is not None and spec.submodule_search_locations
    tables = Path(spec.submodule_search_locations[0], "addresslib", "_parser").glob("*parsetab.py")
    return {path.name: path.read_bytes() for path in tables}


@pytest.mark.slow
def test_importing_flanker_prints_nothing_and_writes_no_tables(tmp_path: Path) -> None:
    before = _tables_snapshot()

    # -W always: a warning we let through would be printed
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", _IMPORT_AND_PARSE],
        capture_output=True,
        env=_isolated_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert _tables_snapshot() == before


@pytest.mark.slow
def test_processes_importing_at_once_all_succeed(tmp_path: Path) -> None:
    env = _isolated_env(tmp_path)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _IMPORT_AND_PARSE],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        for _ in range(6)
    ]
    outcomes = [(process.wait(timeout=120), *process.communicate()) for process in processes]

    assert outcomes == [(0, b"", b"")] * 6
