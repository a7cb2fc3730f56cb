"""Who may have submitted a message: the addresses that can name the CRM user it came in for.

Pure and header-only, so the gateway can apply it at DATA time before accepting anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

#: Headers that name who sent the mail (BCC and forwards come from the user).
SENDER_HEADERS = ("From", "Sender", "Resent-From", "Resent-Sender")
#: Headers that name whose mailbox the mail came through (redirects and mailbox rules).
MAILBOX_HEADERS = (
    "To",
    "Cc",
    "Delivered-To",
    "X-Original-To",
    "X-Forwarded-To",
    "X-Forwarded-For",
    "Resent-To",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An address that may be a user's, and where it was seen (``envelope`` or a header name)."""

    address: str
    source: str


def normalize_address(value: str) -> str:
    """Lower-case an address and strip angle brackets and spaces (``+tags`` are kept)."""
    return value.strip().strip("<>").strip().lower()


def _header_addresses(values: Iterable[str]) -> list[str]:
    # X-Forwarded-For may be "user@a.example other@b.example"; spaces are not address separators in
    # getaddresses, so split them first.
    flat = []
    for value in values:
        if "," not in value and "<" not in value:
            flat.extend(value.split())
        else:
            flat.append(value)
    return [normalize_address(addr) for _name, addr in getaddresses(flat) if "@" in addr]


def submitter_candidates(mail_from: str, headers: Message) -> list[Candidate]:
    """Addresses in the order they should be tried: envelope sender, sender headers, then mailbox headers."""
    out: list[Candidate] = []
    seen: set[str] = set()

    def add(address: str, source: str) -> None:
        if address and "@" in address and address not in seen:
            seen.add(address)
            out.append(Candidate(address, source))

    add(normalize_address(mail_from), "envelope")
    for name in (*SENDER_HEADERS, *MAILBOX_HEADERS):
        raw = [str(v) for v in headers.get_all(name, [])]
        for address in _header_addresses(raw):
            add(address, name)
    return out


def pick_submitter(candidates: Iterable[Candidate], users: Mapping[str, object]) -> Candidate | None:
    """The first candidate whose address belongs to a user, or ``None``."""
    for candidate in candidates:
        if candidate.address in users:
            return candidate
    return None
