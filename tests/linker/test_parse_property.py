"""Property: whatever bytes arrive, ``parse_message`` returns a message or raises ``UnreadableMessageError``."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linker.errors import UnreadableMessageError
from linker.model import ParsedMessage
from linker.parse import parse_addresses, parse_message

FIXTURES = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "parse").glob("*.eml"))
REAL = [path.read_bytes() for path in FIXTURES]

#: Deterministic for CI: the same examples every run, no example database on disk.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(raw: bytes) -> None:
    """Parse ``raw``; only ``UnreadableMessageError`` may escape, and what comes back must be clean."""
    try:
        message = parse_message(raw)
    except UnreadableMessageError as exc:
        assert exc.reason
        return
    assert isinstance(message, ParsedMessage)
    assert message.parser in ("flanker", "email")
    texts = [message.text, message.html, message.subject, *(v for _, v in message.headers), *message.defects]
    for mailbox in (*message.from_, *message.to, *message.cc, *message.reply_to):
        texts += [mailbox.name, mailbox.address]
    for text in texts:
        assert text is None or ("\x00" not in text and not any("\ud800" <= char <= "\udfff" for char in text))
    for attachment in message.attachments:
        assert attachment.size == len(attachment.data)
        assert attachment.sha256 == hashlib.sha256(attachment.data).hexdigest()
    assert message.date is None or message.date.tzinfo is not None


@st.composite
def mutated(draw: st.DrawFn, sources: list[bytes] | None = None) -> bytes:
    """A real message (from ``sources``, default the parse fixtures) with bytes flipped, cut short, headers
    repeated or junk spliced in."""
    raw = bytearray(draw(st.sampled_from(sources or REAL)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "duplicate-header", "splice", "delete"]))
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del raw[at:]
        elif kind == "duplicate-header":
            lines = bytes(raw).split(b"\n")
            head = [i for i, line in enumerate(lines[:40]) if b":" in line]
            if head:
                i = draw(st.sampled_from(head))
                lines[i:i] = [lines[i]] * draw(st.integers(1, 50))
                raw = bytearray(b"\n".join(lines))
        elif kind == "splice":
            junk = draw(
                st.sampled_from([b"\r\n--", b"\r\n\r\n", b"=?utf-8?B?", b"?=", b"\x00", b"\xff\xfe", b"Content-Type: "])
            )
            raw[at:at] = junk
        else:
            del raw[at : at + draw(st.integers(1, 200))]
    return bytes(raw)


@PROPERTY
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@PROPERTY
@given(
    st.lists(st.sampled_from([b"From: a@b.pl\r\n", b"Content-Type: multipart/mixed; boundary=x\r\n", b"\r\n"]))
    .map(b"".join)
    .flatmap(lambda head: st.binary(max_size=500).map(lambda tail: head + tail))
)
def test_header_shaped_bytes(raw: bytes) -> None:
    check(raw)


@PROPERTY
@given(mutated())
def test_mutated_real_messages(raw: bytes) -> None:
    check(raw)


@PROPERTY
@given(st.text(max_size=300))
def test_arbitrary_address_values(value: str) -> None:
    for mailbox in parse_addresses(value):
        assert mailbox.name is not None or mailbox.address is not None
