"""Who may have submitted a message: the addresses that can name the CRM user it came in for.

Pure and header-only, so the gateway can apply it at DATA time before accepting anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import getaddresses

from linker.addresses import normalize_domain

#: Headers that name who sent the mail (BCC and forwards come from the user).
SENDER_HEADERS = ("From", "Sender", "Resent-From", "Resent-Sender")
#: Headers that a mail server adds when it delivers or forwards mail out of a mailbox (Postfix, Gmail, Exchange's
#: inbox rules and its mailbox forwarding, whose value is ``user@domain;tenant-id``, Dovecot's Sieve ``redirect``):
#: traces of whose mailbox a redirect came from, as opposed to To and Cc, which the sender writes.
TRACE_HEADERS = (
    "Delivered-To",
    "X-Original-To",
    "X-Forwarded-To",
    "X-Forwarded-For",
    "X-MS-Exchange-Inbox-Rules-Loop",
    "X-MS-Exchange-ForwardingLoop",
    "X-Sieve-Redirected-From",
    "Resent-To",
)
#: Headers that name whose mailbox the mail came through (redirects and mailbox rules).
MAILBOX_HEADERS = ("To", "Cc", *TRACE_HEADERS)


#: The gateway's proof (and submitter) for mail to postmaster@ (RFC 5321 §4.5.1): kept for admins, never filed.
POSTMASTER = "postmaster"


@dataclass(frozen=True, slots=True)
class Candidate:
    """An address that may be a user's, and where it was seen (``envelope`` or a header name)."""

    address: str
    source: str


def normalize_address(value: str) -> str:
    """Lower-case an address, strip angle brackets and spaces, and put an IDN domain in its matching (A-label)
    form, as users' addresses are stored (``+tags`` are kept)."""
    address = value.strip().strip("<>").strip().lower()
    local, at, domain = address.rpartition("@")
    return address if not at or domain.isascii() else f"{local}@{normalize_domain(domain)}"


def header_addresses(values: Iterable[str]) -> list[str]:
    """The normalised addresses in header values, in order."""
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
    """Addresses in the order they should be tried: envelope sender, sender headers, then mailbox headers. An
    address named in several headers is listed once per header (what vouches for it may depend on which)."""
    out = envelope_candidates(mail_from)
    seen = {(c.address, c.source) for c in out}

    def add(address: str, source: str) -> None:
        if address and "@" in address and (address, source) not in seen:
            seen.add((address, source))
            out.append(Candidate(address, source))

    for name in (*SENDER_HEADERS, *MAILBOX_HEADERS):
        raw = [str(v) for v in header_values(name)]
        if raw:
            for address in header_addresses(raw):
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
