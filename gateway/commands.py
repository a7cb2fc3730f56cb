"""What aiosmtpd works out per connection and per command, at a fraction of its own cost: the address in
``MAIL FROM`` and ``RCPT TO``, and the names of a session's command, AUTH and hook methods.

aiosmtpd parses every path with the RFC 5322 header parser and declares a ``typing.Protocol`` class on each call,
twice per message: the largest CPU cost of a session after DATA (``bench/RESULTS.md``). Nearly every real path is
a plain ``<local@domain>``; those are read with one regular expression, and anything else (quoted local parts,
SMTPUTF8, source routes, ``<>``, a bare address without brackets) goes to the header parser as before, so the
answers are the same.
"""

from __future__ import annotations

import re
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError

# RFC 5321 §4.1.2 Path with a Dot-string local part and an ASCII domain of LDH labels, then the parameters.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_PATH = re.compile(rf"[ \t]*<({_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*)>(.*)", re.DOTALL)


def parse_path(arg: str, local_part_limit: int = 0) -> tuple[str | None, str | None]:
    """``(address, rest)`` of a MAIL/RCPT argument, as aiosmtpd's ``SMTP._getaddr`` returns them.

    ``('', '')`` for an empty argument, ``(None, None)`` when it is not an address (or its local part is longer
    than ``local_part_limit``, when that is set). Where aiosmtpd's reader crashes (``<``, ``<a@[>``), this
    one answers ``(None, None)``: "553 malformed address" instead of a 451 for an internal error.
    """
    if not arg:
        return "", ""
    plain = _PLAIN_PATH.fullmatch(arg)
    # The header parser drops white space and comments after the ">"; a comment goes the slow way.
    rest = plain.group(2).lstrip(" \t") if plain else ""
    if plain and not rest.startswith("("):
        address = plain.group(1)
    else:
        try:
            token, rest = get_angle_addr(arg) if arg.lstrip().startswith("<") else get_addr_spec(arg)
            address = token.addr_spec
        except (HeaderParseError, IndexError, AttributeError):
            # Not only HeaderParseError: the stdlib parser trips over some broken input ("<", "<a@[>").
            return None, None
    if local_part_limit and len(address.rpartition("@")[0]) > local_part_limit:
        return None, None
    return address, rest


#: ``protocol_names`` per class, worked out on first use.
_NAMES: dict[type, list[str]] = {}


def protocol_names(cls: type) -> list[str]:
    """The attributes aiosmtpd looks up on a session or handler (``smtp_*``, ``auth_*``, ``handle_*``), sorted.

    aiosmtpd runs ``dir()`` and ``inspect.getmembers()`` over every new session and its handler to find them
    (on every connection, in the event loop); a ``__dir__`` returning this list makes that a lookup per class. They
    are class attributes, so one list per class is right for every instance.
    """
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = sorted(n for n in dir(cls) if n.startswith(("smtp_", "auth_", "handle_")))
    return names
