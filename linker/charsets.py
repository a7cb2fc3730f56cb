"""Bytes to text: the charset of undeclared 8-bit text, part bodies in their declared charsets, header values with
their encoded words, and transfer encodings (base64, quoted-printable).
"""

from __future__ import annotations

import binascii
import codecs
import quopri
import re

from linker.encoded_words import decode_encoded_words
from linker.rawbounds import Elided

#: What undeclared 8-bit text is read as when it is not UTF-8. Our people write Polish, Czech and Romanian:
#: cp1250 reads all three, where latin-1 would turn ą, ś, ź into ¹, œ, Ÿ.
LEGACY_CHARSET = "cp1250"


#: Characters of one header value decoded (RFC 2047 words) for the linker; the rest is dropped there (the raw
#: message keeps it). flanker's decoder is quadratic in a value's length: 4 MB of encoded words took 20 s.
MAX_HEADER_DECODE = 64 * 1024


_CLEAN = re.compile("[\x00\ud800-\udfff]")


_SURROGATE = re.compile("[\udc80-\udcff]")


FOLD = re.compile(r"\r?\n|\r")


_CHARSET_PARAM = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:+-]+)""", re.IGNORECASE)


_ASCII_PROBE = b"From: a+b~c@d.e\r\n=?\t"


class Context:
    """The raw bytes, and the charset their undeclared 8-bit text is read in (worked out once, when needed)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.utf8 = is_utf8(raw)
        self.linesep = "\r\n" if b"\r\n" in raw[:4096] else "\n"
        self._legacy: str | None = None
        #: Part bodies flanker was not given (``rawbounds.skeleton``), put back as each part is read.
        self.elided: Elided | None = None

    @property
    def legacy(self) -> str:
        if self._legacy is None:
            self._legacy = legacy_charset(self.raw)
        return self._legacy

    @property
    def codec(self) -> str:
        """The charset the whole message is read in before its parts' own charsets apply."""
        return "utf-8" if self.utf8 else self.legacy


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def codec_of(label: str | None) -> str | None:
    if not label:
        return None
    try:
        return codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None


def _ascii_compatible(codec: str) -> bool:
    try:
        return _ASCII_PROBE.decode(codec) == _ASCII_PROBE.decode("ascii")
    except (UnicodeError, LookupError):
        return False


def legacy_charset(raw: bytes) -> str:
    """The first 8-bit charset the message declares (what its raw 8-bit headers are likely in), else cp1250."""
    for match in _CHARSET_PARAM.finditer(raw):
        codec = codec_of(match.group(1).decode("ascii"))
        if codec is not None and codec not in ("utf-8", "ascii") and _ascii_compatible(codec):
            return codec
    return LEGACY_CHARSET


def decode_text(data: bytes, charset: str | None, context: Context, defects: list[str]) -> str:
    """Bytes as text: the declared charset, else UTF-8, else the message's legacy charset; never raises."""
    codec = codec_of(charset)
    if charset and codec is None:
        defects.append(f"unknown charset {charset!r}")
    if codec is not None and codec != "ascii":
        try:
            return clean_text(data.decode(codec))
        except UnicodeDecodeError:
            defects.append(f"text is not valid {charset}")
            if codec != "utf-8":
                return clean_text(data.decode(codec, "replace"))
            return clean_text(data.decode("utf-8", "replace"))
        except LookupError:  # pragma: no cover - lookup succeeded a moment ago
            pass
    try:
        return clean_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        return clean_text(data.decode(context.legacy, "replace"))


def repair_8bit(value: str, codec: str) -> str:
    """A raw header read in the message's legacy charset that is really UTF-8 (a UTF-8 header on a cp1250 body)."""
    if codec == "utf-8" or value.isascii():
        return value
    try:
        return value.encode(codec, "surrogateescape").decode("utf-8")
    except UnicodeError:
        return value


def header_text(value: str, context: Context) -> str:
    """A raw header from the stdlib (8-bit bytes as surrogates) as text: UTF-8, else the message's legacy charset."""
    if not _SURROGATE.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(context.legacy, "replace")


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded leniently (``linker.encoded_words``), in the first ``MAX_HEADER_DECODE``
    characters: bad padding, unknown charsets and split characters never raise."""
    return decode_encoded_words(value, limit=MAX_HEADER_DECODE)


def transfer_decode(data: bytes, encoding: str, defects: list[str]) -> bytes:
    if encoding == "base64":
        return _b64decode(data, defects)
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


def _b64decode(data: bytes, defects: list[str]) -> bytes:
    try:
        return binascii.a2b_base64(data)  # skips line breaks and stray characters
    except binascii.Error:
        pass
    # Missing or misplaced padding, or a truncated body: decode what is there.
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(data) % 4 == 1:
        data = data[:-1]
    defects.append("damaged base64")
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def clean_text(value: str) -> str:
    """No NUL (PostgreSQL refuses it) and no lone surrogates (undecodable bytes) in text we hand on."""
    return _CLEAN.sub("\ufffd", value)


def unfold(value: str) -> str:
    return FOLD.sub("", value)
