"""Address header values into mailboxes: flanker's grammar first, entry by entry where it gives up, and the stdlib
for what neither reads whole (Outlook's ``Novák, Jan <jan@x.cz>``, groups, bare names, names written as comments).
"""

from __future__ import annotations

import functools
import re
from email.utils import getaddresses
from typing import Any

from linker.charsets import FOLD, MAX_HEADER_DECODE, clean_text, decode_words
from linker.encoded_words import has_undecodable_words
from linker.flankerlib import Flanker, load_flanker
from linker.listsplit import split_top_level
from linker.model import Mailbox

_COMMENT_NAME = re.compile(r"^[^\s()<>\"]+@[^\s()<>\"]+\s*\(([^()]*)\)\s*$")


_GROUP_LABEL = re.compile(r'^\s*[^"<>@,;:()]*:\s*')


#: Header values whose mailboxes are remembered: the same people write and are written to again and again, and
#: flanker's address grammar (ply) costs more than the rest of reading a small message's headers.
ADDRESS_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def parse_addresses(value: str) -> tuple[Mailbox, ...]:
    """Mailboxes in an address header value (RFC 2047 names decoded); a name without an address is kept.

    The result is immutable, so equal values share one (cached) result."""
    value = FOLD.sub("", value).strip()
    if not value:
        return ()
    if has_undecodable_words(value, limit=MAX_HEADER_DECODE):
        # flanker decodes a name made of encoded words itself, guessing at unknown charsets and dropping broken
        # base64; such a word is shown as written instead.
        return _merge_outlook_names(email_addresses(value))
    lib = load_flanker()
    try:
        with lib.lock:
            parsed, unparsed = lib.address.parse_list(value, strict=False, as_tuple=True)
    except Exception:  # flanker on text from anywhere in a message: never let it take the message down
        parsed, unparsed = [], [value]
    mailboxes = tuple(mailbox for item in parsed if (mailbox := _flanker_mailbox(item)) is not None)
    if not unparsed and not ("(" in value and any(mailbox.name is None for mailbox in mailboxes)):
        return mailboxes
    # flanker gives up on the whole list for one odd entry ("Novák, Jan <jan@x.cz>", a group, a bare name), and
    # drops names written as comments ("MAILER-DAEMON@x.pl (Mail Delivery System)"): read it entry by entry.
    out: list[Mailbox] = []
    for item in _split_address_list(value):
        out.extend(_parse_address_item(item, lib))
    return _merge_outlook_names(out)


def _flanker_mailbox(item: Any) -> Mailbox | None:
    address = getattr(item, "address", None)
    if not hasattr(item, "mailbox") or not address:  # a URL, not a mailbox
        return None
    # flanker decodes a name that is all encoded words, not one that mixes them with plain text (``Jan
    # =?utf-8?q?Nov=C3=A1k?=``, as Python's EmailMessage and others write it), nor words inside quotes.
    name = clean_text(decode_words(str(item.display_name or ""))).strip()
    return Mailbox(name or None, clean_text(str(address)))


def _strip_group(item: str) -> str:
    """An entry without its group label (``Team: a@b.c``) or null path (``<>``); empty when nothing is left."""
    item = _GROUP_LABEL.sub("", item, count=1).strip().rstrip(";").strip()
    return "" if item == "<>" else item


def _parse_address_item(entry: str, lib: Flanker) -> list[Mailbox]:
    item = _strip_group(entry)
    if not item:
        return []
    try:
        with lib.lock:
            parsed, _ = lib.address.parse_list([item], strict=False, as_tuple=True)
    except Exception:
        parsed = []
    mailboxes = [mailbox for entry in parsed if (mailbox := _flanker_mailbox(entry)) is not None]
    if not mailboxes:
        return email_addresses(item)
    comment = _COMMENT_NAME.search(item)
    if len(mailboxes) == 1 and mailboxes[0].name is None and comment and comment.group(1).strip():
        return [Mailbox(clean_text(decode_words(comment.group(1)).strip()), mailboxes[0].address)]
    return mailboxes


def email_addresses(value: str) -> list[Mailbox]:
    """The stdlib's reading of an address list, keeping bare names (``Jan Novák``) as names."""
    out: list[Mailbox] = []
    for entry in _split_address_list(value):
        item = _strip_group(entry)
        if not item:
            continue
        pairs = [(name, address) for name, address in getaddresses([item]) if "@" in address]
        if pairs:
            out.extend(
                Mailbox(clean_text(decode_words(name)).strip() or None, clean_text(address)) for name, address in pairs
            )
        elif "@" not in item:
            name = decode_words(item).strip().strip('"').strip()
            if name:
                out.append(Mailbox(clean_text(name), None))
    return out


def _split_address_list(value: str) -> list[str]:
    """Split at top-level commas and semicolons (not in quotes, angle brackets or comments)."""
    return split_top_level(value, ",;", _HeaderNesting())


class _HeaderNesting:
    """RFC 5322 nesting: quoted strings (with backslash escapes), comments, and angle brackets outside comments."""

    def __init__(self) -> None:
        self.quoted = self.escaped = False
        self.angle = self.comment = 0

    def top_level(self, char: str) -> bool:
        if self.escaped:
            self.escaped = False
        elif char == "\\":
            self.escaped = True
        elif self.quoted:
            self.quoted = char != '"'
        elif char == '"':
            self.quoted = True
        elif char == "(":
            self.comment += 1
        elif char == ")":
            self.comment = max(0, self.comment - 1)
        elif char == "<" and not self.comment:
            self.angle += 1
        elif char == ">" and not self.comment:
            self.angle = max(0, self.angle - 1)
        else:
            return not self.angle and not self.comment
        return False


def _merge_outlook_names(mailboxes: list[Mailbox]) -> tuple[Mailbox, ...]:
    """``Novák, Jan <jan@x.cz>`` as Outlook writes it: a one-word bare name, then a named address, is one mailbox."""
    out: list[Mailbox] = []
    for mailbox in mailboxes:
        previous = out[-1] if out else None
        if (
            previous is not None
            and previous.address is None
            and previous.name is not None
            and " " not in previous.name
            and mailbox.address is not None
            and mailbox.name is not None
        ):
            out[-1] = Mailbox(f"{previous.name}, {mailbox.name}", mailbox.address)
        else:
            out.append(mailbox)
    return tuple(out)
