"""linker.parse on reports, and the stdlib fallback for what flanker cannot read; unreadable messages."""

from __future__ import annotations

import pytest

from linker import parse
from linker.errors import LinkerError, UnreadableMessageError
from linker.model import Mailbox, ParsedMessage
from linker.parse import parse_message
from tests.linker.parse_support import DASH, FIXTURES, load


def read_with_email(raw: bytes) -> ParsedMessage:
    """The stdlib reading of ``raw``, as if flanker had failed."""
    context = parse.Context(raw)
    return parse.assemble(parse._read_with_email(context), context)


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
