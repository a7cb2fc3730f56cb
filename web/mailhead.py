"""The subject and sender of a raw message that was never filed (ignored, failed, still queued), for the ingest log.

Read from the first ``HEAD_BYTES`` of the raw bytes only, as text for a person (RFC 2047 words decoded), never
trusted for anything: the message page's headers come from the linker's parse. Bounded work on any input: the
header block is cut to ``HEAD_BYTES``, and each value to ``MAX_VALUE`` characters before it is decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.utils import parseaddr

#: Bytes of a raw message read for its headers.
HEAD_BYTES = 16 * 1024
#: Characters of a header value decoded and shown (a header line is at most 998).
MAX_VALUE = 998

_FOLD = re.compile(rb"\r?\n[ \t]+")
_LINE_END = re.compile(rb"\r?\n")


@dataclass(frozen=True, slots=True)
class Head:
    subject: str | None
    from_name: str | None
    from_address: str | None


def _decoded(value: str) -> str:
    """RFC 2047 encoded words decoded; the value as it is when they do not decode."""
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError, AssertionError):
        return value


def _header_block(raw: bytes) -> bytes:
    """The header block (up to the first empty line) of the first ``HEAD_BYTES``."""
    head = raw[:HEAD_BYTES]
    found = re.search(rb"\r?\n\r?\n", head)
    return head[: found.start()] if found else head


def read_head(raw: bytes) -> Head:
    """The first ``Subject`` and ``From`` of ``raw``'s header block, decoded for display."""
    values: dict[str, str] = {}
    for line in _LINE_END.split(_FOLD.sub(b" ", _header_block(raw))):
        name, colon, value = line.partition(b":")
        key = name.strip().lower()
        if not colon or key not in (b"subject", b"from") or key.decode() in values:
            continue
        values[key.decode()] = value.strip()[:MAX_VALUE].decode("utf-8", "replace")
    subject = _decoded(values["subject"]).strip() if "subject" in values else None
    from_name = from_address = None
    if "from" in values:
        name, address = parseaddr(values["from"])
        from_name, from_address = (_decoded(name).strip() or None), (address.strip() or None)
        if from_address is None and from_name is None:
            from_name = _decoded(values["from"]).strip() or None
    return Head(subject or None, from_name, from_address)
