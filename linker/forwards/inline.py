"""Find a forward written inline by a mail client and read it back: sender, recipients, date, subject, body, note.

The text is scanned from the top for the first thing that opens a quoted message:

* a separator line followed by a header block: a *forward* separator (``---------- Forwarded message ---------``,
  ``Begin forwarded message:``…) proves a forward; an *original message* one (``-----Original Message-----``,
  Outlook's underscore rule, an unknown ``----- … -----`` title) is a forward unless the subject says reply;
* a bare header block that starts with a From label (new Outlook, Outlook 2013): same rule as the latter;
* a reply attribution (``On … wrote:``): a forward only under a forward prefix (Outlook for Mac), else a reply.

The first of these decides: a reply ends the search, because anything below it is quoted history, not what the
forwarder sent. ``find_inline_quote`` also returns that reply (its sender, recipients, date), so its people can be
kept; ``find_inline_forward`` returns forwards only. Quoted blocks (``> ``) are read at their own depth. The body is
what follows the header block in the same quote level, unquoted and dedented when the client quoted or indented all
of it.
"""

from __future__ import annotations

import functools
import re
import textwrap
from dataclasses import dataclass
from typing import Literal

from linker.forwards.attribution import Attribution, find_attribution
from linker.forwards.dates import parse_date
from linker.forwards.headers import HeaderBlock, label_of, parse_block, parse_one_line
from linker.forwards.mailboxes import clean_value, decoded, parse_mailbox, parse_mailboxes
from linker.forwards.separators import FORWARD, ORIGINAL, PLAIN_FORWARD
from linker.forwards.subject import has_forward_prefix, has_reply_prefix, strip_forward_prefix
from linker.forwards.tables import longest_first
from linker.model import InlineForward, QuoteKind

SeparatorKind = Literal["forward", "original"]

#: How many lines below a separator or From line a header block may reach; bounds the work per candidate line.
_WINDOW = 60
#: Lines of a forwarded message searched for the next level (``strict``): its forwarder's note is above it.
STRICT_SCAN_LINES = 2_000
#: Lines searched for the first quoted message at the top: a note, or a reply, above a forward is never this long,
#: and every line searched is matched against each client's forms (4 million short lines took 40 s).
SCAN_LINES = 10_000

_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
#: ``---------- Title ----------`` (the whole line), or Yahoo's ``----- Title ----- From: …`` with the block after it.
_DASHED_FULL = re.compile(r"^\s*[-=_~*]{2,}\s*(?P<title>[^-=_~*\s].*?)\s*[-=_~*]{2,}\s*:?\s*$")
_DASHED_LEAD = re.compile(r"^\s*[-=_~*]{3,}\s*(?P<title>[^-=_~*\s][^-=_~*]*?)\s*[-=_~*]{3,}\s*(?P<rest>\S.*)$")
#: The longest title between dashes, when it names a forward: Mutt names the sender in it (``----- Forwarded message
#: from Name <addr> -----``). Any other title is at most 80 characters.
MAX_TITLE = 160
#: A line some clients draw below the forwarded message, dropped from the end of the body: a titled one (Mutt's
#: ``----- End forwarded message -----``, Yandex's ``-------- Конец пересылаемого сообщения --------``), a bare rule
#: (KMail), or The Bat!'s ``===8<===…End of original message text===`` (which also opens the body).
_CLOSING = re.compile(r"^\s*(?:[-=]{3,}[^-=]{1,80}[-=]{3,}|[-=_]{5,}|={2,}\s*8<.*)\s*$")
_SCISSORS = re.compile(r"^\s*={2,}\s*8<")
#: Yandex: below its separator, the sender as an attribution without a verb (``07.03.2024, 14:05, "Name" <addr>:``).
_DATED_SENDER = re.compile(
    r"^\s*(?P<date>\d{1,2}\.\d{1,2}\.\d{2,4},?\s+\d{1,2}:\d{2}(?::\d{2})?),\s*(?P<who>[^\n]{1,300}?@[^\n]{1,300}?)\s*:\s*$"
)
#: A bare rule: Outlook on the web and desktop draw one above the quoted header (32 underscores).
_RULE = re.compile(r"^\s*(?:_{10,}|-{10,})\s*$")
#: ``Begin forwarded message:`` and its kin: a known title ending with a colon.
_TITLE_COLON = re.compile(r"^\s*(?P<title>[^:\uff1a]{3,80}?)\s*[:\uff1a]\s*$")
_FORWARD_TITLES = [p.casefold() for p in longest_first(FORWARD)]
_ORIGINAL_TITLES = [p.casefold() for p in longest_first(ORIGINAL)]
_PLAIN_TITLE = re.compile(
    r"^\s*(?:" + "|".join(r"\s+".join(map(re.escape, p.split())) for p in longest_first(PLAIN_FORWARD)) + r")\s*$",
    re.IGNORECASE,
)
#: Invisible characters clients leave at the top of a body (BOM, zero-width space) or as spaces (NBSP), and what
#: they become. Replaced one by one where present: ``str.translate`` with a table costs more than the whole scan.
_INVISIBLE = (("\ufeff", ""), ("\u200b", ""), ("\u200e", ""), ("\u200f", ""), ("\xa0", " "))
#: What every separator line has: a run of rule characters, or a colon at its end. A line without either is
#: passed over without trying each separator pattern.
_SEPARATOR_HINT = re.compile(r"[-=_~*]{2}|[:\uff1a]\s*$")
#: A line that starts with text (so the body has no common indent), and the whitespace of blank lines.
_UNINDENTED = re.compile(r"^[^\s]", re.MULTILINE)
_BLANK_INDENT = re.compile(r"\n[ \t]+(?=\n)")
#: The labels a header block without a separator line may start with.
_BARE_FIRST = ("from", "date")


@dataclass(frozen=True, slots=True)
class _Separator:
    kind: SeparatorKind
    rest: str
    #: The client format the line is typical of (``gmail``, ``outlook``…).
    style: str | None = None


def find_inline_forward(text: str, *, outer_subject: str | None = None) -> InlineForward | None:
    """The outermost inline forward in ``text`` (a plain-text body), or ``None`` when there is none."""
    found = find_inline_quote(text, outer_subject=outer_subject)
    return found if found is not None and found.kind == "forward" else None


def find_inline_quote(text: str, *, outer_subject: str | None = None, strict: bool = False) -> InlineForward | None:
    """The first quoted message in ``text``: a forward, or a reply's quote (``kind`` says which), or ``None``.

    ``strict`` is for text inside a forward, whose subject is as its author left it: only a forward prefix makes an
    Outlook block or an attribution a forward, and a reply prefix makes even a forward separator quoted history (the
    author replied to a forward). At the top, the user sent it to us, and only a reply prefix says reply. A strict
    search looks at the first ``STRICT_SCAN_LINES`` lines only: what a forwarder writes above a forward is short,
    and ten levels of a 25 MB message must not cost ten full scans. At the top, the first ``SCAN_LINES``."""
    for invisible, replacement in _INVISIBLE:
        if invisible in text:
            text = text.replace(invisible, replacement)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i in range(min(len(lines), STRICT_SCAN_LINES if strict else SCAN_LINES)):
        found = _forward_at(lines, i, outer_subject, strict)
        if found is not None:
            return found
    return None


def _depth(line: str) -> int:
    match = _QUOTE.match(line)
    return match.group(0).count(">") if match else 0


@functools.lru_cache(maxsize=64)
def _marks(depth: int) -> re.Pattern[str]:
    """At least ``depth`` quote marks at the start of a line: looks at those ``depth`` only, however many follow."""
    return re.compile(r"(?:[ \t]*>){" + str(depth) + "}")


@functools.lru_cache(maxsize=64)
def _prefix(depth: int) -> re.Pattern[str]:
    """Up to ``depth`` quote marks at the start of a line, each with the space after it."""
    return re.compile(r"(?:[ \t]*>[ \t]?){1," + str(depth) + "}")


def _dequote(line: str, depth: int) -> str:
    if depth <= 0:
        return line
    match = _prefix(depth).match(line)
    return line[match.end() :] if match else line


def _region(lines: list[str], start: int, depth: int, limit: int | None = None) -> list[str]:
    """The lines from ``start`` on (``limit`` at most) at quote ``depth`` or deeper, unquoted by ``depth`` levels."""
    if depth == 0:
        return lines[start : None if limit is None else start + limit]
    marks = _marks(depth)
    out: list[str] = []
    window = lines[start : None if limit is None else start + limit]
    i = 0
    while i < len(window):
        line = window[i]
        if marks.match(line) is None and line.strip(" \t>"):
            # A lazy continuation (MailMate): unquoted lines that go on a quoted paragraph up to the next quoted
            # line belong to the quote. Anything else unquoted ends it. Each line is looked at twice at most.
            end = i
            while end < len(window) and marks.match(window[end]) is None and window[end].strip(" \t>"):
                end += 1
            if not (out and out[-1].strip() and end < len(window) and marks.match(window[end])):
                break
            out += window[i:end]
            i = end
            continue
        out.append(_dequote(line, depth))
        i += 1
    return out


def _title_kind(title: str) -> SeparatorKind | None:
    folded = " ".join(title.casefold().split())
    if any(p in folded for p in _FORWARD_TITLES):
        return "forward"
    if any(p in folded for p in _ORIGINAL_TITLES):
        return "original"
    return None


def _dashed_style(line: str, kind: SeparatorKind) -> str:
    """The client a dashed separator is typical of: Gmail draws 10 dashes, Thunderbird 8, Outlook 5."""
    dashes = len(line) - len(line.lstrip(" \t-"))
    if dashes >= 10 and kind == "forward":
        return "gmail"
    if 7 <= dashes <= 9:
        return "thunderbird"
    if dashes == 5 and kind == "original":
        return "outlook"
    return "dashed"


def _match_separator(line: str) -> _Separator | None:
    """What kind of separator ``line`` is, with any header text that follows it on the same line."""
    if not _SEPARATOR_HINT.search(line):
        return _Separator("forward", "", "the-bat") if _PLAIN_TITLE.match(line) else None
    if _RULE.match(line):
        return _Separator("original", "", "outlook")
    full = _DASHED_FULL.match(line)
    if full and len(title := full.group("title")) <= MAX_TITLE:
        dashed = _title_kind(title)
        if len(title) <= 80 or dashed == "forward":  # a long title only where it names a forward
            return _Separator(dashed or "original", "", _dashed_style(line, dashed or "original"))
    lead = _DASHED_LEAD.match(line)
    if lead and len(lead.group("title")) <= 80:
        return _Separator(_title_kind(lead.group("title")) or "original", lead.group("rest"), "yahoo")
    titled = _TITLE_COLON.match(line)
    if titled:
        kind = _title_kind(titled.group("title"))
        # Only a title that is all phrase: "Please read the forwarded message below:" is the forwarder's note.
        if kind and len(titled.group("title").split()) <= 7:
            return _Separator(kind, "", "apple-mail")
    return None


def _kind(separator: SeparatorKind | None, subject: str | None, strict: bool, depth: int) -> QuoteKind:
    """Forward or reply, for what opens the quote: a forward separator, an original-message one (or a bare Outlook
    block), or an attribution (``None``), at quote ``depth``."""
    if depth > 0 and has_reply_prefix(subject):
        # Under "Re:", a header block inside "> " quoting is the history a reply quotes (its attribution unread)
        return "reply"
    if separator == "forward":
        return "reply" if strict and has_reply_prefix(subject) else "forward"
    if separator == "original" and not strict:
        return "reply" if has_reply_prefix(subject) else "forward"
    return "forward" if has_forward_prefix(subject) else "reply"


def _forward_at(lines: list[str], i: int, subject: str | None, strict: bool) -> InlineForward | None:
    depth = _depth(lines[i])
    line = _dequote(lines[i], depth)
    if not line.strip():
        return None
    separator = _match_separator(line)
    if separator is not None:
        return _after_separator(lines, i, depth, separator, subject, strict)
    found = label_of(line)
    # A bare block: new Outlook and Outlook 2013 start it with From, GMX and web.de with the date (``Gesendet:``)
    if found is not None and found[0] in _BARE_FIRST:
        block = parse_block(_region(lines, i, depth, _WINDOW), 0)
        if block.first not in _BARE_FIRST or not _valid(block, None):
            return None
        kind = _kind("original", subject, strict, depth)
        style = "outlook" if block.first == "from" else "gmx"
        return _build(lines[:i], block, _region(lines, i, depth)[block.end :], subject, kind=kind, style=style)
    attribution = find_attribution([_dequote(x, depth) for x in lines[i : i + 3]], 0)
    if attribution is None:
        return None
    kind = _kind(None, subject, strict, depth)
    region = _region(lines, i, depth)
    block = HeaderBlock(end=attribution.end)
    return _build(
        lines[:i], block, region[attribution.end :], subject, kind=kind, style="attribution", attribution=attribution
    )


def _after_separator(  # noqa: PLR0917  (the scan's state, passed on as _forward_at has it)
    lines: list[str], i: int, depth: int, separator: _Separator, subject: str | None, strict: bool
) -> InlineForward | None:
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
            return _dated_sender_at(lines, i, depth, start, separator, subject, strict)
    kind = _kind(separator.kind, subject, strict, depth)
    region = _region(lines, i, depth)[:start] + _region(lines, i + start, header_depth)
    return _build(lines[:i], block, region[block.end :], subject, kind=kind, style=separator.style)


def _dated_sender_at(  # noqa: PLR0917  (the scan's state, as _after_separator has it)
    lines: list[str], i: int, depth: int, start: int, separator: _Separator, subject: str | None, strict: bool
) -> InlineForward | None:
    """Yandex's forward: a forward separator, then the sender and date on one line, then the body."""
    if separator.kind != "forward" or depth > 0:
        return None
    line = lines[i + start] if i + start < len(lines) else ""
    dated = _DATED_SENDER.match(line) if len(line) <= 400 else None
    sender = parse_mailbox(clean_value(dated.group("who"))) if dated else None
    if dated is None or sender is None or sender.address is None:
        return None
    attribution = Attribution(start=start, end=start + 1, sender=sender, date_text=dated.group("date"))
    return _build(
        lines[:i],
        HeaderBlock(end=start + 1),
        lines[i + start + 1 :],
        subject,
        kind=_kind(separator.kind, subject, strict, depth),
        style="yandex",
        attribution=attribution,
    )


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


def _all_quoted(lines: list[str]) -> bool:
    """Whether every line with text is quoted (and one is): stops at the first that is not."""
    seen = False
    for line in lines:
        if line.strip():
            if _QUOTE.match(line) is None:
                return False
            seen = True
    return seen


def _closes_block(lines: list[str], i: int) -> bool:
    """Zoho draws its forward separator again below the header block: that line (``lines[i]``) is not the
    original's body. One that opens a header block is a forward of a forward without a note, and stays."""
    separator = _match_separator(lines[i])
    if separator is None or separator.kind != "forward" or separator.rest:
        return False
    after = next((line for line in lines[i + 1 : i + 4] if line.strip()), None)
    return after is None or label_of(after) is None


def _body(lines: list[str]) -> str:
    # Missive and Apple Mail quote the whole forwarded body; Outlook for Mac indents it.
    if _all_quoted(lines):
        lines = [_dequote(line, 1) for line in lines]
    last = len(lines) - 1
    while last >= 0 and not lines[last].strip():
        last -= 1
    if last >= 0 and _CLOSING.match(lines[last]):
        lines = lines[:last]
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and (_SCISSORS.match(lines[first]) or _closes_block(lines, first)):
        lines = lines[first + 1 :]
    text = "\n".join(lines)
    if _UNINDENTED.search(text):
        # Nothing to dedent: do what dedent would do to blank lines, without its pass over every line in Python
        return _BLANK_INDENT.sub("\n", text).strip()
    return textwrap.dedent(text).strip()


def _build(
    above: list[str],
    block: HeaderBlock,
    below: list[str],
    outer_subject: str | None,
    *,
    kind: QuoteKind,
    style: str | None,
    attribution: Attribution | None = None,
) -> InlineForward:
    """The quoted message: its sender and date from the attribution line when one opens it, else from the block."""
    fields = {name: decoded(value) if name == "subject" else value for name, value in block.fields.items()}
    if attribution is not None:
        sender, date_text = attribution.sender, attribution.date_text
    else:
        sender, date_text = parse_mailbox(fields["from"]), fields.get("date") or None
    written = fields.get("subject") or None
    if "subject" in fields:
        subject: str | None = strip_forward_prefix(fields["subject"]) or None
    elif kind == "reply":
        subject = None  # an attribution names no subject; the reply's own subject is not the quoted one's
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
        kind=kind,
        style=style,
        subject_as_written=written,
    )
