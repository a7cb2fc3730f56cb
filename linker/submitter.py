"""Who may have submitted a message: the addresses that can name the CRM user it came in for.

Pure and header-only, so the gateway can apply it at DATA time before accepting anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


#: Returns every value of one header, e.g. ``email.message.Message.get_all`` or ``ParsedMessage.header_all``.
HeaderValues = Callable[[str], Iterable[str]]


def submitter_candidates(mail_from: str, header_values: HeaderValues) -> list[Candidate]:
    """Addresses in the order they should be tried: envelope sender, sender headers, then mailbox headers."""
    out = envelope_candidates(mail_from)
    seen = {c.address for c in out}

    def add(address: str, source: str) -> None:
        if address and "@" in address and address not in seen:
            seen.add(address)
            out.append(Candidate(address, source))

    for name in (*SENDER_HEADERS, *MAILBOX_HEADERS):
        raw = [str(v) for v in header_values(name)]
        if raw:
            for address in _header_addresses(raw):
                add(address, name)
    return out


def envelope_candidates(mail_from: str) -> list[Candidate]:
    """``submitter_candidates`` of a message without headers: the envelope sender alone, if it is an address."""
    address = normalize_address(mail_from)
    return [Candidate(address, "envelope")] if "@" in address else []


def without_plus_tag(address: str) -> str:
    """``anna+caf_=x@example.com`` → ``anna@example.com`` (Gmail auto-forward envelopes, sub-addressing)."""
    local, at, domain = address.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if at and "+" in local[1:] else address


def lookup_keys(candidates: Iterable[Candidate]) -> set[str]:
    """Every address worth looking up for these candidates: as written and without a ``+tag``."""
    return {key for c in candidates for key in (c.address, without_plus_tag(c.address))}


def pick_submitter(candidates: Iterable[Candidate], users: Mapping[str, object]) -> Candidate | None:
    """The first candidate whose address, as written or without its ``+tag``, belongs to a user."""
    for candidate in candidates:
        for key in (candidate.address, without_plus_tag(candidate.address)):
            if key in users:
                return Candidate(key, candidate.source)
    return None
