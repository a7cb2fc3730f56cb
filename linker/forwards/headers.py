"""Read the header block of an inline forward: ``Label: value`` lines in any language, or Yahoo's single line.

A block is a run of label lines (``From:``, ``Od:``, ``De :``, ``*Von:*``, ``差出人`` with a full-width colon), where
a To/Cc value may wrap onto the next lines. It ends at the first line that is neither, at a repeated field (the next
block) or at a blank line, unless what follows the blank line is a field the block still lacks (HTML paragraphs
turned into text). A ``Word: value`` line no table knows is passed over when such a field follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from linker.forwards.labels import all_labels, label_index
from linker.forwards.mailboxes import looks_like_mailbox_list

#: The fields a block can carry; ``other`` (Reply-To, Importance…) is read and dropped.
ADDRESS_FIELDS = ("from", "to", "cc")

_INDEX = label_index()
_ALTERNATION = "|".join(re.escape(label) for label in all_labels())
#: ``Label: value`` with optional bold markers (``*From:*``, ``**From**:``) and French or full-width colons.
_BOLD = r"[ \t]*\*{0,2}[ \t]*"
_LABEL_LINE = re.compile(
    "^" + _BOLD + "(?P<label>" + _ALTERNATION + ")" + _BOLD + r"(?P<colon>[:\uff1a])" + _BOLD + "(?P<value>.*)$",
    re.IGNORECASE,
)
#: Labels inside one line, case-sensitive since nothing but capitals separates them (``CETSubject:``).
_INLINE_LABEL = re.compile(r"(?P<label>" + _ALTERNATION + r")[ \t]*[:\uff1a]")
_INLINE_LABEL_NO_COLON = re.compile(r"(?P<label>" + _ALTERNATION + r")[ \t]+")
#: A label without its colon right after an address's ``>``: case aside, nothing else says it is one.
_BARE_AFTER_ADDRESS = re.compile(r">[ \t]*(?P<label>" + _ALTERNATION + r")[ \t]+", re.IGNORECASE)
#: A label line of a field no table knows: one to three words, a colon, a value.
_UNKNOWN_LABEL = re.compile(_BOLD + r"[^\W\d_][\w'-]*(?: [\w'-]+){0,2}" + _BOLD + r"[:\uff1a][ \t]*\S")


@dataclass(slots=True)
class HeaderBlock:
    """The raw values of one header block and where it ends (index of the first line after it)."""

    fields: dict[str, str] = field(default_factory=dict)
    first: str | None = None
    end: int = 0

    def count(self, *names: str) -> int:
        """How many of ``names`` the block has."""
        return sum(1 for name in names if name in self.fields)


def label_of(line: str) -> tuple[str, str] | None:
    """``(field, value)`` when ``line`` is a header label line, else ``None``. A value in bold beside a bold label
    loses its marks: Gmail's text part writes HTML bold as ``*…*``, and Apple Mail bolds the subject
    (``*Betreff:* *Angebot*``, or ``*Subject: **Offer*`` when the label's bold took the space)."""
    match = _LABEL_LINE.match(line)
    if match is None:
        return None
    value = match.group("value").strip()
    if value.endswith("*"):
        # Marks after the colon beyond those that close the label's own open the value (``*Subject: **Offer*``).
        unclosed = line.count("*", 0, match.start("label")) - line.count("*", match.end("label"), match.start("colon"))
        opened = max(0, line.count("*", match.end("colon"), match.start("value")) - max(0, unclosed))
        value = _unbold(value, opened)
    return _INDEX[match.group("label").casefold()], value


def _unbold(value: str, opened: int) -> str:
    """``value`` without the bold marks around it: as many ``*`` at its end (one or two) as open it, counting
    ``opened`` marks before it; as it is when any other ``*`` is in it. String scans only: one pass however long."""
    core = value.rstrip("*")
    inner = core.lstrip("*")
    closing, opening = len(value) - len(core), len(core) - len(inner) + opened
    if closing <= 2 and opening == closing and inner.strip() and "*" not in inner:
        return inner.strip()
    return value


def _continues(line: str, previous: str) -> bool:
    """Whether ``line`` carries on a wrapped From/To/Cc value."""
    if previous.rstrip().endswith(("<", ",", ";")):
        words = line.split()
        return 0 < len(words) <= 8 and not line.rstrip().endswith((".", "!", "?"))
    return looks_like_mailbox_list(line.strip())


def parse_block(lines: list[str], start: int) -> HeaderBlock:
    """Read the block that starts at ``lines[start]``; an empty block when that line is no label line."""
    one_line = parse_one_line(lines[start]) if start < len(lines) else None
    if one_line is not None and len(one_line.fields) >= 3:
        one_line.end = start + 1
        return one_line
    block = HeaderBlock(end=start)
    last: str | None = None
    i = start
    while i < len(lines):
        line = lines[i]
        found = label_of(line)
        if found is not None:
            name, value = found
            if name in block.fields and name != "other":
                break
            if name not in block.fields:
                block.fields[name] = value
            block.first = block.first or name
            last = name
            i += 1
            block.end = i
            continue
        if not line.strip():
            j = i
            while j < len(lines) and not lines[j].strip() and j - i < 2:
                j += 1
            if block.fields and _new_field(block, lines, j):
                i = j
                continue
            break
        if last in ADDRESS_FIELDS and _continues(line, block.fields[last]):
            block.fields[last] = f"{block.fields[last]} {line.strip()}"
            i += 1
            block.end = i
            continue
        if block.fields and _UNKNOWN_LABEL.match(line) and _new_field(block, lines, i + 1):
            # A label no table knows (a client's own word for a field, a header it copies) between two known ones
            last = None
            i += 1
            continue
        break
    return block


def _new_field(block: HeaderBlock, lines: list[str], i: int) -> bool:
    """Whether ``lines[i]`` is a label line of a field the block still lacks."""
    found = label_of(lines[i]) if i < len(lines) else None
    return found is not None and found[0] not in block.fields and found[0] != "other"


def _boundary_ok(text: str, start: int, label: str) -> bool:
    # Yahoo glues labels to the previous value ("…CETSubject:", "…>To:"). After a lower-case letter only a long
    # capitalized label counts ("John DoeSubject:"): "Canada:" holds no "Da:".
    return start == 0 or not text[start - 1].islower() or (len(label) >= 4 and label[0].isupper())


def parse_one_line(text: str) -> HeaderBlock | None:
    """Yahoo's block, all on one line (``From: A <a@x>To: b@x Cc: … Sent: … Subject: …``), or ``None``."""
    matches = [m for m in _INLINE_LABEL.finditer(text) if _boundary_ok(text, m.start(), m.group("label"))]
    if not matches or text[: matches[0].start()].strip(" \t*"):
        return None
    block = HeaderBlock()
    kept: list[tuple[str, int, int]] = []
    for match in matches:
        name = _INDEX[match.group("label").casefold()]
        if name in block.fields or any(name == k[0] for k in kept):
            continue  # the same label again is part of a value ("Subject: Plan A: …" holds no second To)
        if kept and kept[-1][0] == "subject" and {"from", "date"} <= {k[0] for k in kept}:
            break  # Yahoo writes the subject last: what follows is the subject's own text
        kept.append((name, match.start(), match.end()))
    for index, (name, _start, value_start) in enumerate(kept):
        value_end = kept[index + 1][1] if index + 1 < len(kept) else len(text)
        block.fields[name] = text[value_start:value_end].strip()
    if kept:
        block.first = kept[0][0]
    for name in ("from", "to"):
        if name in block.fields:
            _split_bare_recipients(block, name)
    if "subject" not in block.fields and kept:
        _split_bare_subject(block, kept[-1][0])
    return block if len(block.fields) >= 2 else None


def _split_bare_recipients(block: HeaderBlock, name: str) -> None:
    """Yahoo in Polish writes ``Dw`` with no colon, glued to the address before it (``…>Dw Walter <w@x>``): find a
    To or Cc label the block lacks right after an address, where only mailboxes follow it."""
    value = block.fields[name]
    for match in _BARE_AFTER_ADDRESS.finditer(value):
        field = _INDEX[match.group("label").casefold()]
        if field not in {"to", "cc"} or field in block.fields:
            continue
        rest = value[match.end() :].strip()
        if looks_like_mailbox_list(rest):  # the first candidate only: each look reads the rest of the value
            block.fields[name] = value[: match.start() + 1].strip()
            block.fields[field] = rest
        return


def _split_bare_subject(block: HeaderBlock, last: str) -> None:
    """Yahoo in Portuguese writes ``Assunto`` with no colon; find it in the last value."""
    value = block.fields[last]
    for match in _INLINE_LABEL_NO_COLON.finditer(value):
        label = match.group("label")
        if _INDEX[label.casefold()] == "subject" and _boundary_ok(value, match.start(), label):
            block.fields[last] = value[: match.start()].strip()
            block.fields["subject"] = value[match.end() :].strip()
            return
