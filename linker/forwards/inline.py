"""Find a forward written inline by a mail client and read it back: sender, recipients, date, subject, body, note.

The text is scanned from the top for the first thing that opens a quoted message:

* a separator line followed by a header block: a *forward* separator (``---------- Forwarded message ---------``,
  ``Begin forwarded message:``…) proves a forward; an *original message* one (``-----Original Message-----``,
  Outlook's underscore rule, an unknown ``----- … -----`` title) is a forward unless the subject says reply;
* a bare header block that starts with a From label (new Outlook, Outlook 2013): same rule as the latter;
* a reply attribution (``On … wrote:``): a forward only under a forward prefix (Outlook for Mac), else a reply.

The first of these decides: a reply ends the search, because anything below it is quoted history, not what the
forwarder sent. Quoted blocks (``> ``) are read at their own depth. The body is what follows the header block in the
same quote level, unquoted and dedented when the client quoted or indented all of it.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Literal

from linker.forwards.attribution import Attribution, find_attribution
from linker.forwards.dates import parse_date
from linker.forwards.headers import HeaderBlock, label_of, parse_block, parse_one_line
from linker.forwards.mailboxes import parse_mailbox, parse_mailboxes
from linker.forwards.separators import FORWARD, ORIGINAL, phrases
from linker.forwards.subject import has_forward_prefix, has_reply_prefix, strip_forward_prefix
from linker.model import InlineForward, Mailbox

SeparatorKind = Literal["forward", "original"]

#: How many lines below a separator or From line a header block may reach; bounds the work per candidate line.
_WINDOW = 60

_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
#: ``---------- Title ----------`` (the whole line), or Yahoo's ``----- Title ----- From: …`` with the block after it.
_DASHED_FULL = re.compile(r"^\s*[-=_~*]{2,}\s*(?P<title>[^-=_~*\s].*?)\s*[-=_~*]{2,}\s*:?\s*$")
_DASHED_LEAD = re.compile(r"^\s*[-=_~*]{3,}\s*(?P<title>[^-=_~*\s][^-=_~*]*?)\s*[-=_~*]{3,}\s*(?P<rest>\S.*)$")
#: A bare rule: Outlook on the web and desktop draw one above the quoted header (32 underscores).
_RULE = re.compile(r"^\s*(?:_{10,}|-{10,})\s*$")
#: ``Begin forwarded message:`` and its kin: a known title ending with a colon.
_TITLE_COLON = re.compile(r"^\s*(?P<title>[^:\uff1a]{3,80}?)\s*[:\uff1a]\s*$")
_FORWARD_TITLES = [p.casefold() for p in phrases(FORWARD)]
_ORIGINAL_TITLES = [p.casefold() for p in phrases(ORIGINAL)]
#: Invisible characters clients leave at the top of a body (BOM, zero-width space) or as spaces (NBSP), and what
#: they become. Replaced one by one where present: ``str.translate`` with a table costs more than the whole scan.
_INVISIBLE = (("\ufeff", ""), ("\u200b", ""), ("\u200e", ""), ("\u200f", ""), ("\xa0", " "))
#: What every separator line has: a run of rule characters, or a colon at its end. A line without either is
#: passed over without trying each separator pattern.
_SEPARATOR_HINT = re.compile(r"[-=_~*]{2}|[:\uff1a]\s*$")


@dataclass(frozen=True, slots=True)
class _Separator:
    kind: SeparatorKind
    rest: str


class _Reply:
    """Marker: the first quoted thing is a reply, so the message carries no forward."""


_REPLY = _Reply()


def find_inline_forward(text: str, *, outer_subject: str | None = None) -> InlineForward | None:
    """The outermost inline forward in ``text`` (a plain-text body), or ``None`` when there is none."""
    for invisible, replacement in _INVISIBLE:
        if invisible in text:
            text = text.replace(invisible, replacement)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i in range(len(lines)):
        found = _forward_at(lines, i, outer_subject)
        if isinstance(found, _Reply):
            return None
        if found is not None:
            return found
    return None


def _depth(line: str) -> int:
    match = _QUOTE.match(line)
    return match.group(0).count(">") if match else 0


def _dequote(line: str, depth: int) -> str:
    for _ in range(depth):
        match = re.match(r"^[ \t]*>[ \t]?", line)
        if match is None:
            break
        line = line[match.end() :]
    return line


def _region(lines: list[str], start: int, depth: int, limit: int | None = None) -> list[str]:
    """The lines from ``start`` on (``limit`` at most) at quote ``depth`` or deeper, unquoted by ``depth`` levels."""
    out: list[str] = []
    for line in lines[start : None if limit is None else start + limit]:
        if _depth(line) < depth and line.strip(" \t>"):
            break
        out.append(_dequote(line, depth))
    return out


def _title_kind(title: str) -> SeparatorKind | None:
    folded = " ".join(title.casefold().split())
    if any(p in folded for p in _FORWARD_TITLES):
        return "forward"
    if any(p in folded for p in _ORIGINAL_TITLES):
        return "original"
    return None


def _match_separator(line: str) -> _Separator | None:
    """What kind of separator ``line`` is, with any header text that follows it on the same line."""
    if not _SEPARATOR_HINT.search(line):
        return None
    if _RULE.match(line):
        return _Separator("original", "")
    full = _DASHED_FULL.match(line)
    if full and len(full.group("title")) <= 80:
        return _Separator(_title_kind(full.group("title")) or "original", "")
    lead = _DASHED_LEAD.match(line)
    if lead and len(lead.group("title")) <= 80:
        return _Separator(_title_kind(lead.group("title")) or "original", lead.group("rest"))
    titled = _TITLE_COLON.match(line)
    if titled:
        kind = _title_kind(titled.group("title"))
        # Only a title that is all phrase: "Please read the forwarded message below:" is the forwarder's note.
        if kind and len(titled.group("title").split()) <= 7:
            return _Separator(kind, "")
    return None


def _forward_at(lines: list[str], i: int, subject: str | None) -> InlineForward | _Reply | None:
    depth = _depth(lines[i])
    line = _dequote(lines[i], depth)
    if not line.strip():
        return None
    separator = _match_separator(line)
    if separator is not None:
        return _after_separator(lines, i, depth, separator, subject)
    found = label_of(line)
    if found is not None and found[0] == "from":
        block = parse_block(_region(lines, i, depth, _WINDOW), 0)
        if block.first != "from" or not _valid(block, None):
            return None
        if has_reply_prefix(subject):
            return _REPLY
        return _build(lines[:i], block, _region(lines, i, depth)[block.end :], subject)
    attribution = find_attribution([_dequote(x, depth) for x in lines[i : i + 3]], 0)
    if attribution is None:
        return None
    if not has_forward_prefix(subject):
        return _REPLY
    region = _region(lines, i, depth)
    return _from_attribution(lines[:i], attribution, region[attribution.end :], subject)


def _after_separator(
    lines: list[str], i: int, depth: int, separator: _Separator, subject: str | None
) -> InlineForward | _Reply | None:
    if separator.rest:
        block = parse_one_line(separator.rest)
        if block is None or not _valid(block, separator.kind):
            return None
        block.end, start, header_depth = 1, 1, depth
    else:
        window = _region(lines, i, depth, _WINDOW)
        start = 1
        while start < len(window) and start <= 3 and not window[start].strip():
            start += 1
        if start >= len(window):
            return None
        # MailMate quotes the header block under an unquoted "Forwarded message:" title.
        header_depth = depth + _depth(window[start])
        if header_depth > depth:
            window = window[:start] + _region(lines, i + start, header_depth, _WINDOW)
        block = parse_block(window, start)
        if not _valid(block, separator.kind):
            return None
    if separator.kind == "original" and has_reply_prefix(subject):
        return _REPLY
    region = _region(lines, i, depth)[:start] + _region(lines, i + start, header_depth)
    return _build(lines[:i], block, region[block.end :], subject)


def _valid(block: HeaderBlock, kind: SeparatorKind | None) -> bool:
    """Enough of a header block to trust: always a sender; more fields when nothing but the block says forward."""
    if not block.fields.get("from") or parse_mailbox(block.fields["from"]) is None:
        return False
    others = block.count("date", "subject", "to", "cc")
    if kind == "forward":
        return others >= 1
    if kind == "original":
        return others >= 2
    return others >= 2 and block.count("date", "subject") >= 1


def _body(lines: list[str]) -> str:
    content = [line for line in lines if line.strip()]
    # Missive and Apple Mail quote the whole forwarded body; Outlook for Mac indents it.
    if content and all(_depth(line) > 0 for line in content):
        lines = [_dequote(line, 1) for line in lines]
    return textwrap.dedent("\n".join(lines)).strip()


def _build(above: list[str], block: HeaderBlock, below: list[str], outer_subject: str | None) -> InlineForward:
    fields = block.fields
    date_text = fields.get("date") or None
    return _forward(above, block, below, outer_subject, sender=parse_mailbox(fields["from"]), date_text=date_text)


def _from_attribution(
    above: list[str], attribution: Attribution, below: list[str], outer_subject: str | None
) -> InlineForward:
    block = HeaderBlock(end=attribution.end)
    return _forward(above, block, below, outer_subject, sender=attribution.sender, date_text=attribution.date_text)


def _forward(
    above: list[str],
    block: HeaderBlock,
    below: list[str],
    outer_subject: str | None,
    *,
    sender: Mailbox | None,
    date_text: str | None,
) -> InlineForward:
    fields = block.fields
    if "subject" in fields:
        subject: str | None = strip_forward_prefix(fields["subject"]) or None
    else:
        # No subject in the block (Outlook for Mac's attribution): the forward's own subject is the original's.
        subject = (strip_forward_prefix(outer_subject) or None) if outer_subject else None
    return InlineForward(
        note="\n".join(above).strip() or None,
        from_=sender,
        to=parse_mailboxes(fields.get("to", "")),
        cc=parse_mailboxes(fields.get("cc", "")),
        date_text=date_text,
        date=parse_date(date_text),
        subject=subject,
        body=_body(below),
    )
