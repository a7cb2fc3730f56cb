"""Bounds on raw bytes before parsing: a big multipart is read from its skeleton with the same result."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linker import parse, rawbounds
from linker.parse import parse_message
from linker.pipeline import _letters
from linker.rawbounds import ELIDE_PART_BYTES, declared_boundaries, skeleton

_BIG = ELIDE_PART_BYTES * 3


def _big_multipart() -> bytes:
    """A message over ``DIRECT_BODY_BYTES``: big text and HTML alternatives, a big base64 PDF, an attached
    message holding a big part of its own, a part with no header, and a preamble and epilogue."""
    text = "".join(f"Line {i} of the Acme Q3 pricing, zażółć gęślą jaźń\r\n" for i in range(_BIG // 50))
    html = "<p>" + "Acme pricing table row</p><p>" * (_BIG // 30) + "</p>"
    pdf = base64.encodebytes(b"%PDF-1.7 " + bytes(range(256)) * (_BIG // 64)).decode().replace("\n", "\r\n")
    inner_body = "Forwarded text, long enough to be cut out.\r\n" * (_BIG // 40)
    inner = (
        "From: Greta Lang <greta@globex.test>\r\nTo: anna@example.com\r\nSubject: Order\r\n"
        'Content-Type: multipart/mixed; boundary="in-1"\r\n\r\n'
        f"--in-1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{inner_body}\r\n--in-1--\r\n"
    )
    return (
        "From: Anna Nowak <anna@example.com>\r\nTo: John Smith <john@acme.test>\r\nSubject: Pricing OP-12\r\n"
        "Message-ID: <big-1@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="out-0"\r\n\r\n'
        "This is a multi-part message in MIME format.\r\n"
        '--out-0\r\nContent-Type: multipart/alternative; boundary="alt-1"\r\n\r\n'
        f"--alt-1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
        f"--alt-1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--alt-1--\r\n"
        "--out-0\r\nContent-Type: application/pdf; name=offer.pdf\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; filename=offer.pdf\r\n\r\n{pdf}\r\n"
        f"--out-0\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n"
        f"--out-0\r\n\r\n{'headerless part ' * (_BIG // 16)}\r\n"
        "--out-0--\r\nepilogue\r\n"
    ).encode()


def test_a_big_multipart_is_read_from_its_skeleton_as_from_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _big_multipart()
    assert len(raw) > rawbounds.DIRECT_BODY_BYTES
    skeletal, elided = skeleton(raw, declared_boundaries(raw))
    assert len(elided.bodies) >= 4 and len(skeletal) < len(raw) // 10
    from_skeleton = parse_message(raw)
    monkeypatch.setattr(parse, "DIRECT_BODY_BYTES", len(raw) + 1)  # flanker reads every byte
    whole = parse_message(raw)
    assert from_skeleton == whole
    assert from_skeleton.text and from_skeleton.text.startswith("Line 0 of the Acme") and "jaźń" in from_skeleton.text
    assert from_skeleton.attachments[0].filename == "offer.pdf"
    assert b"Forwarded text" in from_skeleton.attached_messages[0]
    assert b"mailassist-elided" not in from_skeleton.attached_messages[0]


def test_a_token_written_in_a_message_is_text() -> None:
    """Tokens carry a nonce made per message: one a sender wrote is left as they wrote it."""
    raw = _big_multipart().replace(b"Line 0 of", b"mailassist-elided-" + b"0" * 32 + b"-0 Line 0 of")
    parsed = parse_message(raw)
    assert parsed.text is not None and parsed.text.startswith("mailassist-elided-" + "0" * 32 + "-0 Line 0")


def test_small_parts_and_false_delimiters_are_left_alone() -> None:
    raw = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nsmall\r\n--bother\r\n\r\nx\r\n--b--\r\n'
    assert skeleton(raw, declared_boundaries(raw))[0] == raw


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_letters_are_what_one_regular_expression_keeps(text: str) -> None:
    assert _letters(text) == re.sub(r"\W+", "", text.casefold())
