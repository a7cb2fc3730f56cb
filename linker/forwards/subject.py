"""Subject prefixes that mail clients add on forward (``Fwd:``, ``WG:``, ``PD:``…) and on reply (``Re:``, ``AW:``…).

The *outermost* prefix tells what the last client did: ``Fwd: Re: x`` is a forward of a reply, ``Re: Fwd: x`` a reply
to a forward. ``VS:`` is a forward in Danish and Norwegian but a reply in Finnish; it counts as a forward here, because
treating a Finnish reply as a possible forward costs less than missing a Danish forward.
"""

from __future__ import annotations

import re
from typing import Literal

from linker.forwards.tables import Table, index, longest_first, phrases

#: Forward prefixes per language (``phrases.toml``), and reply prefixes.
FORWARD_PREFIXES: Table = phrases("forward_prefix")
REPLY_PREFIXES: Table = phrases("reply_prefix")

Kind = Literal["forward", "reply"]


_KINDS: dict[str, Kind] = index([("forward", FORWARD_PREFIXES), ("reply", REPLY_PREFIXES)])  # "VS" stays a forward
_ALTERNATION = "|".join(re.escape(p) for p in longest_first(FORWARD_PREFIXES, REPLY_PREFIXES))
#: One prefix: the word, maybe abbreviated (``Пересл.``), an optional counter (``Re[2]``, ``AW(3)``), a colon (French
#: puts a space before it).
_PREFIX = re.compile(r"\s*(?P<word>" + _ALTERNATION + r")\.?(?:\s*[\[(]\d+[\])])?\s*[:\uff1a]\s*", re.IGNORECASE)
#: ``[Fwd: subject]``: the old Netscape/Thunderbird form.
_BRACKETED = re.compile(
    r"\s*\[\s*(?P<word>" + _ALTERNATION + r")\.?\s*[:\uff1a]\s*(?P<rest>.*)\]\s*$", re.IGNORECASE | re.DOTALL
)
#: Tags a gateway puts before everything, e.g. ``[EXTERNAL]``.
_TAG = re.compile(r"\s*\[[^\[\]:]{1,30}\]\s*")


def _kind(word: str) -> Kind | None:
    return _KINDS.get(word.casefold())


def _outermost(subject: str) -> Kind | None:
    pos = 0
    while True:
        bracketed = _BRACKETED.match(subject, pos)
        if bracketed:
            return _kind(bracketed.group("word"))
        prefix = _PREFIX.match(subject, pos)
        if prefix:
            return _kind(prefix.group("word"))
        tag = _TAG.match(subject, pos)
        if tag is None:
            return None
        pos = tag.end()


def has_forward_prefix(subject: str | None) -> bool:
    """Whether the outermost prefix (tags like ``[EXTERNAL]`` skipped) is a forward one: ``Fwd: Re: x`` yes."""
    return bool(subject) and _outermost(subject or "") == "forward"


def has_reply_prefix(subject: str | None) -> bool:
    """Whether the outermost prefix (tags like ``[EXTERNAL]`` skipped) is a reply one: ``Re: Fwd: x`` yes."""
    return bool(subject) and _outermost(subject or "") == "reply"


def strip_forward_prefix(subject: str) -> str:
    """``subject`` without its leading forward prefixes (``Fwd: FW: Re: x`` → ``Re: x``); gateway tags are kept."""
    tags = ""
    rest = subject.strip()
    while True:
        bracketed = _BRACKETED.match(rest)
        if bracketed and _kind(bracketed.group("word")) == "forward":
            rest = bracketed.group("rest").strip()
            continue
        prefix = _PREFIX.match(rest)
        if prefix and _kind(prefix.group("word")) == "forward":
            rest = rest[prefix.end() :]
            continue
        tag = _TAG.match(rest)
        if tag and (_PREFIX.match(rest, tag.end()) or _BRACKETED.match(rest, tag.end())):
            tags += tag.group(0).strip() + " "
            rest = rest[tag.end() :]
            continue
        break
    return (tags + rest).strip()


def strip_prefixes(subject: str) -> str:
    """``subject`` without any leading forward or reply prefixes (``Fwd: Re: AW: x`` → ``x``)."""
    rest = subject.strip()
    while True:
        bracketed = _BRACKETED.match(rest)
        if bracketed and _kind(bracketed.group("word")):
            rest = bracketed.group("rest").strip()
            continue
        prefix = _PREFIX.match(rest)
        if prefix is None:
            return rest.strip()
        rest = rest[prefix.end() :]
