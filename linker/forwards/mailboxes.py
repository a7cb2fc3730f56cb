"""Read the From/To/Cc values of a forwarded header block as mail clients display them, not as RFC 5322 wants.

Clients write ``Name <addr>``, ``"Doe, John" <addr>``, ``addr <addr>``, ``Name [mailto:addr]``, ``Name (<addr>)``,
``addr<mailto:addr>``, a bare name, or ``A on behalf of B``; lists are separated by ``,`` or ``;``.
"""

# ruff: noqa: RUF001  (typographic quotes are data here; look-alike letters are intended)

from __future__ import annotations

import re

from linker.charsets import decode_words
from linker.forwards.separators import ON_BEHALF_OF
from linker.forwards.tables import longest_first
from linker.listsplit import split_top_level
from linker.model import Mailbox

_ADDRESS = r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+"
_ADDRESS_RE = re.compile(_ADDRESS)
#: Outlook's HTML-to-text rendering of links, glued to the text it repeats: ``john@x.com<mailto:john@x.com>``.
_MAILTO_NOISE = re.compile(r"(?<=\S)<mailto:[^<>]*>", re.IGNORECASE)
#: ``John <mailto:john@x.com>``: the link is the only address.
_MAILTO_ANGLE = re.compile(r"<mailto:([^<>]*)>", re.IGNORECASE)
#: Outlook 2013: ``John Doe [mailto:john@x.com]``.
_MAILTO_BRACKET = re.compile(r"\[mailto:([^\]]*)\]", re.IGNORECASE)
_MAILTO_BARE = re.compile(r"mailto:", re.IGNORECASE)
_BRACKETED = re.compile(r"[<\[(]\s*<?\s*(" + _ADDRESS + r")\s*>?\s*[>\])]")
_ON_BEHALF = re.compile(
    r"\s+(?:" + "|".join(re.escape(p) for p in longest_first(ON_BEHALF_OF)) + r")\s+.*$", re.IGNORECASE | re.DOTALL
)
_QUOTES = "\"'«»„“”‚‘’`"
# Apostrophes are not quotes here: "O'Brien" must not swallow the rest of the list.
_OPEN = {'"': '"', "«": "»", "„": "“”", "“": "”"}
_BRACKETS = {"<": ">", "[": "]", "(": ")"}
_TRIM = _QUOTES + " \t,;:*"


def clean_value(value: str) -> str:
    """Drop ``<mailto:…>`` link noise and turn ``[mailto:x]`` into ``<x>``; brackets written as HTML entities
    (``Jan &lt;jan@x&gt;``, from a text part made of HTML by a tool that forgot to unescape) become brackets."""
    if "&lt;" in value or "&gt;" in value:
        value = _ENTITY.sub(lambda m: _ENTITIES[m.group().lower()], value)
    value = _MAILTO_NOISE.sub("", value)
    value = _MAILTO_ANGLE.sub(r"<\1>", value)
    value = _MAILTO_BRACKET.sub(r"<\1>", value)
    return _MAILTO_BARE.sub("", value).strip()


_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&amp;": "&", "&#39;": "'", "&apos;": "'"}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)), re.IGNORECASE)


def decoded(text: str) -> str:
    """``text`` with RFC 2047 encoded words decoded: a client that pastes the original's raw headers into the
    forward (Mutt without ``forward_decode``, a copied header block) leaves ``=?utf-8?q?…?=`` in names and subjects."""
    return decode_words(text) if "=?" in text else text


def _clean_name(name: str, address: str | None) -> str | None:
    # Decoded after the value was split into mailboxes: a decoded name may hold a comma or brackets.
    name = decoded(name)
    name = re.sub(r"[<\[(]\s*[>\])]", "", name)
    name = " ".join(name.split()).strip(_TRIM).strip()
    if not name or not any(ch.isalnum() for ch in name):
        return None
    if address and name.strip("<>[]() ").casefold() == address.casefold():
        return None
    return name


def parse_mailbox(value: str) -> Mailbox | None:
    """One displayed mailbox, or ``None`` when the text holds neither a name nor an address."""
    value = _ON_BEHALF.sub("", clean_value(value))
    match = _BRACKETED.search(value)
    if match is None:
        match = _ADDRESS_RE.search(value)
        if match is None:
            name = _clean_name(value, None)
            return Mailbox(name=name, address=None) if name else None
        address = match.group(0)
    else:
        address = match.group(1)
    before, after = value[: match.start()], value[match.end() :]
    # "addr (Name)" is the old RFC 822 comment form; otherwise the name comes before the address.
    name = _clean_name(before, address) or _clean_name(after.strip("() "), address)
    return Mailbox(name=name, address=address)


def _split(value: str, separators: str) -> list[str]:
    """Split on ``separators`` outside quotes and brackets."""
    return split_top_level(value, separators, _DisplayNesting())


class _DisplayNesting:
    """Nesting as clients display it: typographic quotes (not apostrophes) and brackets, each closed by its pair."""

    def __init__(self) -> None:
        self.closing: list[str] = []

    def top_level(self, char: str) -> bool:
        closing = self.closing
        if closing and char in closing[-1]:
            closing.pop()
        elif char in _OPEN and not (closing and closing[-1] == _OPEN[char]):
            closing.append(_OPEN[char])
        elif char in _BRACKETS:
            closing.append(_BRACKETS[char])
        else:
            return not closing
        return False


def _has_address(part: str) -> bool:
    return _ADDRESS_RE.search(part) is not None


def parse_mailboxes(value: str) -> tuple[Mailbox, ...]:
    """A displayed list of mailboxes; ``;`` separates when present (Outlook), else ``,``."""
    value = clean_value(value)
    parts = _split(value, ";")
    if len(parts) <= 1:
        parts = _split(value, ",")
        # Outlook shows "Doe, John <john@x.com>" unquoted: a lone word before a "Name <addr>" is a surname.
        merged: list[str] = []
        for part in parts:
            if merged and not _has_address(merged[-1]) and len(merged[-1].split()) == 1 and "<" in part:
                head = part.split("<", 1)[0].strip()
                if head and len(head.split()) <= 2 and not _has_address(head):
                    merged[-1] = f"{merged[-1]}, {part}"
                    continue
            merged.append(part)
        parts = merged
    out = (parse_mailbox(part) for part in parts)
    return tuple(m for m in out if m is not None)


def looks_like_mailbox_list(value: str) -> bool:
    """Whether a line is nothing but mailboxes with addresses (a wrapped To/Cc line, not body text)."""
    parts = _split(clean_value(value), ",;")
    if not parts:
        return False
    for part in parts:
        match = _ADDRESS_RE.search(part)
        if match is None:
            return False
        rest = (part[: match.start()] + part[match.end() :]).strip()
        if len(rest.split()) > 5:
            return False
    return True
