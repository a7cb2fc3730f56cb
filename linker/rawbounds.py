"""Bounds on raw message bytes, applied before a parser reads them: what keeps flanker's and the stdlib's
scanners linear on hostile input while the raw message (the blob) keeps every byte.

Each bound is a cheap pass over bytes. Ordinary mail is never touched: the bounds act only past limits no real
mail reaches (thousands of header fields in one block, tens of thousands of lines that look like delimiters,
megabytes in one part).
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections import defaultdict
from collections.abc import Iterator

from linker.submitter import SENDER_HEADERS, TRACE_HEADERS

#: Headers holding address lists.
ADDRESS_HEADERS = frozenset({"from", "sender", "to", "cc", "reply-to"})

#: flanker stops at 5,000 parts; the stdlib would go on, slowly, part by part. Past this many, neither reads it.
MAX_PARTS = 10_000
#: Lines starting with ``--`` that are read as they are; past this many, those that are no declared boundary get a
#: space in front (``escape_false_delimiters``).
MAX_DASH_LINES = 50_000
#: Messages bigger than this that are one part (no multipart, no attached message) have only their header read by
#: flanker; the body is the bytes after it.
DIRECT_BODY_BYTES = 1 << 20

#: Header fields read per header block (the message's own, and each MIME part's). Past this many, only fields the
#: linker reads are kept (the first few of each name); the rest are dropped there and the raw message keeps them.
#: 200k fields took 3.6 s in flanker. Real mail has tens; a long Exchange trace, a few hundred.
MAX_HEADER_FIELDS = 1_000
#: Names kept past ``MAX_HEADER_FIELDS`` (lower case), at most ``KEPT_PER_NAME`` of each.
KEPT_HEADER_FIELDS = frozenset(
    {
        *ADDRESS_HEADERS,
        *(name.lower() for name in (*SENDER_HEADERS, *TRACE_HEADERS)),
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-id",
        "auto-submitted",
        "precedence",
        "list-id",
        "list-unsubscribe",
        "return-path",
        "x-autoreply",
        "x-autorespond",
        "x-auto-response-suppress",
        "resent-cc",
        "resent-date",
        "resent-message-id",
    }
)
KEPT_PER_NAME = 5

_BOUNDARY_PARAM = re.compile(rb"""boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))""", re.IGNORECASE)
#: ``MAX_HEADER_FIELDS`` + 1 lines in a row that start a field or fold one: a block worth cutting (lines, not fields:
#: a cheap first test). Body text after a ``--`` line (a signature) breaks the run at its first line of prose.
_LONG_HEADER_BLOCK = re.compile(rb"(?:(?:[!-9;-~]+[ \t]*:|[ \t])[^\n]*\n){%d}" % (MAX_HEADER_FIELDS + 1))
_BLANK_LINE = re.compile(rb"\n\r?\n")
#: A header block that declares parts: a multipart or an enclosed message (folding allowed after the colon).
_CONTAINER_TYPE = re.compile(rb"^content-type:\s*(?:multipart|message)/", re.IGNORECASE | re.MULTILINE)
#: One field: its first line and its folded continuation lines (or a stray line that is neither).
_FIELD = re.compile(rb"[^\n]*\n(?:[ \t][^\n]*\n)*|[^\n]+$")


def escape_false_delimiters(raw: bytes, declared: set[bytes]) -> tuple[bytes, int]:
    """``raw`` with a space before each line that starts with ``--`` but no declared boundary, when there are more
    than ``MAX_DASH_LINES`` such lines; and how many. flanker's scanner takes every ``--`` line for a boundary
    candidate (4 million took 14 s), and the stdlib compares every line with the boundaries
    (20 MB of short lines: 3 s). Ordinary mail has a few (signatures, delimiters): it is never touched.
    ``declared``: ``declared_boundaries(raw)``."""
    if raw.count(b"\n--") <= MAX_DASH_LINES:
        return raw, 0
    boundaries = sorted(declared, key=len, reverse=True)
    if not boundaries:  # no part to find: every such line is text
        return raw.replace(b"\n--", b"\n --"), raw.count(b"\n--")
    # The delimiter lines are few and found fast (a literal search); the rest is bytes.replace between them.
    alternatives = b"|".join(map(re.escape, boundaries))
    delimiters = [found.start() for found in re.finditer(rb"\n--(?:" + alternatives + rb")", raw)]
    pieces: list[bytes] = []
    previous = 0
    for at in delimiters:
        pieces += (raw[previous:at].replace(b"\n--", b"\n --"), b"\n--")
        previous = at + 3
    pieces.append(raw[previous:].replace(b"\n--", b"\n --"))
    return b"".join(pieces), raw.count(b"\n--") - len(delimiters)


def declared_boundaries(raw: bytes) -> set[bytes]:
    """Every ``boundary`` parameter the message declares (at most ``MAX_PARTS``), as written."""
    return {quoted or bare for quoted, bare in _BOUNDARY_PARAM.findall(raw)[:MAX_PARTS]}


def bound_header_fields(raw: bytes, declared: set[bytes] | None = None) -> tuple[bytes, int]:
    """``raw`` with each header block cut to ``MAX_HEADER_FIELDS`` fields (plus the ones the linker reads), and how
    many fields were dropped. One linear pass, and none at all for a message with fewer lines than the bound.

    A header block starts the message and follows each delimiter line: ``--`` and a boundary that a
    ``Content-Type`` in the message declares (a block is only touched when more than ``MAX_HEADER_FIELDS``
    field-like lines follow it). ``declared``: ``declared_boundaries(raw)``, when the caller has it already.
    """
    if raw.count(b"\n", 0, len(raw)) <= MAX_HEADER_FIELDS:
        return raw, 0
    out: list[bytes] = []
    kept_to = 0  # raw[:kept_to] is settled: copied to ``out`` or dropped
    dropped = 0
    for start in _block_starts(raw, declared_boundaries(raw) if declared is None else declared):
        if start < kept_to:
            continue  # inside a block already read: each byte is looked at once
        long_block = _LONG_HEADER_BLOCK.match(raw, start)
        if long_block is None:
            continue
        end = _header_block_end(raw, start)
        block, count = _cut_header_block(raw[start:end])
        out += (raw[kept_to:start], block)
        kept_to = end
        dropped += count
    if not dropped:
        return raw, 0
    out.append(raw[kept_to:])
    return b"".join(out), dropped


def _block_starts(raw: bytes, boundaries: set[bytes]) -> Iterator[int]:
    yield 0
    if not boundaries:
        return
    alternatives = b"|".join(map(re.escape, sorted(boundaries, key=len, reverse=True)))
    for line in re.finditer(rb"^--(?:" + alternatives + rb")[^\n]*\n", raw, re.MULTILINE):
        yield line.end()


def _header_block_end(raw: bytes, start: int) -> int:
    """Where the block's blank line starts (or the end of ``raw``)."""
    blank = _BLANK_LINE.search(raw, start)
    return len(raw) if blank is None else blank.start() + 1


def _cut_header_block(block: bytes) -> tuple[bytes, int]:
    fields = _FIELD.findall(block)
    kept = fields[:MAX_HEADER_FIELDS]
    seen: dict[bytes, int] = defaultdict(int)
    for one in fields[MAX_HEADER_FIELDS:]:
        name = one.split(b":", 1)[0].strip().lower()
        if name.decode("latin-1") in KEPT_HEADER_FIELDS and seen[name] < KEPT_PER_NAME:
            seen[name] += 1
            kept.append(one)
    return b"".join(kept), len(fields) - len(kept)


def delimiter_lines(raw: bytes) -> int:
    """Lines that start a MIME part: ``--`` and a boundary some ``Content-Type`` in the message declares (other
    lines that start with ``--`` are text). An upper bound, in linear time, without parsing the message."""
    if raw.count(b"\n--") <= MAX_PARTS:
        return raw.count(b"\n--")
    boundaries = declared_boundaries(raw)
    if not boundaries:
        return 0
    line = re.compile(rb"\n--(?:" + b"|".join(map(re.escape, sorted(boundaries, key=len, reverse=True))) + rb")")
    return sum(1 for _ in itertools.islice(line.finditer(raw), MAX_PARTS + 1))


def is_single_part(head: bytes) -> bool:
    """Whether a header block declares no parts: neither a multipart nor an enclosed message."""
    return _CONTAINER_TYPE.search(head) is None


def split_head(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """The header block, the blank line after it, and the body; ``b""`` for the blank line when there is none."""
    found = _BLANK_LINE.search(raw)
    if found is None:
        return raw, b"", b""
    return raw[: found.start() + 1], raw[found.start() + 1 : found.end()], raw[found.end() :]


#: A leaf part's body longer than this is kept out of flanker's scan in a message bigger than
#: ``DIRECT_BODY_BYTES``: flanker reads a token in its place, and the part's bytes are put back when it is read.
ELIDE_PART_BYTES = 64 * 1024
#: A part header that may declare parts: such a part is never elided (its parts must be read).
_MAY_HOLD_PARTS = re.compile(rb"multipart|message/", re.IGNORECASE)


class Elided:
    """Part bodies taken out of a message (``skeleton``) and the tokens that stand for them.

    A token carries a random nonce, so no message can write one; ``restore`` puts every token found in a body back,
    wherever a parser placed it."""

    def __init__(self) -> None:
        self.prefix = b"mailassist-elided-" + secrets.token_hex(16).encode() + b"-"
        self.bodies: list[bytes] = []
        self._token = re.compile(re.escape(self.prefix) + rb"(\d+)")

    def token(self, body: bytes) -> bytes:
        self.bodies.append(body)
        return self.prefix + str(len(self.bodies) - 1).encode()

    def restore(self, body: bytes) -> bytes:
        if not self.bodies or self.prefix not in body:
            return body
        return self._token.sub(lambda found: self.bodies[int(found[1])], body)


def skeleton(raw: bytes, declared: set[bytes]) -> tuple[bytes, Elided]:
    """``raw`` with the body of each leaf part over ``ELIDE_PART_BYTES`` replaced by a token (``Elided``).

    flanker's multipart scanner reads every byte of a message in Python-level steps: a big part's body costs
    the same as its structure would. Given the skeleton it reads the structure only. A part is cut between the blank
    line after its header and the next delimiter line (the line break before a delimiter belongs to the delimiter,
    so it stays). Parts whose header may declare parts of their own are kept whole. ``declared``:
    ``declared_boundaries(raw)``."""
    elided = Elided()
    if not declared:
        return raw, elided
    alternatives = b"|".join(map(re.escape, sorted(declared, key=len, reverse=True)))
    delimiters = [(found.start(), found.end()) for found in re.finditer(rb"\n--(?:" + alternatives + rb")", raw)]
    pieces: list[bytes] = []
    kept_to = 0
    for (_, start), (end, _) in itertools.pairwise([*delimiters, (len(raw), len(raw))]):
        if raw.startswith(b"--", start):
            continue  # a close delimiter: what follows is an epilogue (or the parent's next part)
        blank = _BLANK_LINE.search(raw, start, end)
        if blank is None or _MAY_HOLD_PARTS.search(raw, start, blank.start()):
            continue
        body_end = end - 1 if end < len(raw) and raw[end - 1 : end] == b"\r" else end
        if body_end - blank.end() <= ELIDE_PART_BYTES:
            continue
        pieces += (raw[kept_to : blank.end()], elided.token(raw[blank.end() : body_end]))
        kept_to = body_end
    if not pieces:
        return raw, elided
    pieces.append(raw[kept_to:])
    return b"".join(pieces), elided
