"""RFC 2047 encoded words (``=?utf-8?q?Nov=C3=A1k?=``) in header text: decoded leniently, linearly, never raising.

Leniency is what Thunderbird and Gmail show: words inside quoted strings and words glued to plain text are decoded
too, and a character split across two words is put back together. Per RFC 2047 §6.2, white space between two
adjacent encoded words is dropped, while white space between an encoded word and plain text is kept. A word in a
charset we do not know, or whose base64 is broken, is left as it is written.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re

#: Characters of one value decoded; the rest is dropped (callers keep the raw message). Mirrors
#: ``linker.charsets.MAX_HEADER_DECODE``.
MAX_DECODE = 64 * 1024

#: One word: charset, encoding and text, printable ASCII without ``?`` (and so without white space).
_WORD = re.compile(r"=\?([!->@-~]{1,75})\?([qQbB])\?([!->@-~]*)\?=")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
#: Decoding this with a charset must give back the same text: what tells a real text charset from codecs such as
#: ``rot13``, ``idna`` or ``punycode`` (slow on long input) that ``codecs.lookup`` also knows.
_PROBE = b"Jan Novak <a+b~c@d.e> =?!#"
#: Charsets that are not ASCII-compatible but are real (if rare) in encoded words.
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
#: What bytes that are not valid in their declared charset are read as next.
_FALLBACK = "cp1250"


def decode_encoded_words(value: str, *, limit: int = MAX_DECODE) -> str:
    """The first ``limit`` characters of ``value``, with their RFC 2047 encoded words decoded."""
    value = value[:limit]
    if "=?" not in value:
        return value
    out: list[str] = []
    # The run of adjacent encoded words being collected: its charset, its bytes, and its text as written.
    run_charset: str | None = None
    run_bytes: list[bytes] = []
    run_text: list[str] = []
    position = 0

    def flush() -> None:
        nonlocal run_charset
        if run_charset is not None:
            out.append(_text(b"".join(run_bytes), run_charset, "".join(run_text)))
        run_charset = None
        run_bytes.clear()
        run_text.clear()

    for match in _WORD.finditer(value):
        between = value[position : match.start()]
        position = match.end()
        charset = _charset(match.group(1))
        data = _word_bytes(match.group(2).lower(), match.group(3))
        if charset is None or data is None:  # unknown charset, broken base64: as written
            flush()
            out += (between, match.group())
            continue
        if run_charset is not None and not between.isspace() and between:
            flush()
        if run_charset is None:
            out.append(between)
        if charset != run_charset:  # a character is only ever split between words of one charset
            flush()
        run_charset = charset
        run_bytes.append(data)
        run_text.append(match.group())
    flush()
    out.append(value[position:])
    return "".join(out)


def has_undecodable_words(value: str, *, limit: int = MAX_DECODE) -> bool:
    """Whether the first ``limit`` characters of ``value`` hold an encoded word that ``decode_encoded_words`` leaves
    as written (an unknown charset, broken base64)."""
    value = value[:limit]
    return "=?" in value and any(
        _charset(m.group(1)) is None or _word_bytes(m.group(2).lower(), m.group(3)) is None
        for m in _WORD.finditer(value)
    )


@functools.lru_cache(maxsize=256)
def _charset(label: str) -> str | None:
    """The codec for a word's charset (``*language`` dropped, RFC 2231), or ``None`` when it is no text charset."""
    try:
        name = codecs.lookup(label.split("*", 1)[0].strip()).name
    except (LookupError, ValueError):
        return None
    return name if name in _WIDE or _is_text_charset(name) else None


def _is_text_charset(name: str) -> bool:
    try:
        return _PROBE.decode(name) == _PROBE.decode("ascii")
    except (UnicodeError, LookupError):
        return False


def _word_bytes(encoding: str, text: str) -> bytes | None:
    """The bytes a word carries; ``None`` for base64 that cannot be read."""
    data = text.encode("ascii")
    if encoding == "q":
        return binascii.a2b_qp(data, header=True)
    if not _BASE64.fullmatch(text):
        return None
    data = data.rstrip(b"=")
    if len(data) % 4 == 1:
        return None
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return None


def _text(data: bytes, charset: str, written: str) -> str:
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        # Mislabelled text: UTF-8 declared as a legacy charset, or the other way round.
        return data.decode("utf-8" if charset != "utf-8" else _FALLBACK, "replace")
    except (UnicodeError, LookupError):
        return written
