"""Address rules: normalising for lookups, what is internal, what is automated, and guessing a company name."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import idna

#: Local parts of senders no human reads: never a lead.
_AUTOMATED_LOCAL = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|noreply[-_.].*|.*[-_.]no[-_.]?reply|mailer[-_]daemon|postmaster"
    r"|bounces?(?:[-+_.].*)?|notifications?|notify|alerts?|auto[-_]?(?:reply|responder|confirm)|daemon"
    r"|mail[-_]?delivery[-_]?(?:subsystem|system)?|return|listserv|majordomo)$",
    re.IGNORECASE,
)
#: Second-level labels that sit under a country code as part of the public suffix (``acme.co.uk``).
_SECOND_LEVEL = frozenset(
    {"co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "biz", "info", "ltd", "plc"}
)
#: Labels in front of a company's domain that are not its name.
_HOST_LABELS = frozenset({"www", "mail", "email", "smtp", "mx", "m", "en", "eu", "mail2", "post"})


#: Characters of a domain put through IDNA: DNS allows 253, and longer input is no domain (only work for IDNA).
MAX_DOMAIN = 255


def normalize_address(address: str, *, strip_plus: bool = False) -> str:
    """Lower-case the local part, put the domain in its matching form (``normalize_domain``), and optionally drop
    a ``+tag`` from the local part. The local part is not IDNA-mapped."""
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()
    if strip_plus and "+" in local[1:]:
        local = local.split("+", 1)[0]
    return f"{local.lower()}@{normalize_domain(domain)}"


def untagged(address: str) -> str | None:
    """A normalised address without its ``+tag`` (``john+crm@acme.test`` → ``john@acme.test``), or ``None`` when
    it has none."""
    local, at, domain = address.rpartition("@")
    if not at or "+" not in local[1:]:
        return None
    return f"{local[0]}{local[1:].split('+', 1)[0]}@{domain}"


@functools.lru_cache(maxsize=4096)
def normalize_domain(domain: str) -> str:
    """The matching form of a domain: lower-case ASCII, an IDN as its A-labels (``żabka.test`` →
    ``xn--abka-99a.test``) by IDNA 2008 with UTS #46 mapping, else by IDNA 2003 (names IDNA 2008 refuses, such as
    symbols); lower-case text as written when it is neither, or longer than ``MAX_DOMAIN``. Never raises."""
    domain = domain.strip().rstrip(".")
    if domain.isascii() or len(domain) > MAX_DOMAIN:
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii").rstrip(".").lower()
    except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        pass
    try:
        ascii_form = domain.encode("idna").decode("ascii").rstrip(".").lower()
    except (UnicodeError, ValueError):
        return domain.lower()
    # IDNA 2003 lets controls and spaces through (``\x00ż.test``): that is no name to match or store.
    return ascii_form if all("!" <= char <= "~" for char in ascii_form) else domain.lower()


def unicode_domain(domain: str) -> str:
    """A domain for people to read: A-labels as Unicode (``xn--abka-99a.test`` → ``żabka.test``), as written when
    they do not decode. Never raises."""
    if "xn--" not in domain.lower() or len(domain) > MAX_DOMAIN:
        return domain
    try:
        return idna.decode(domain)
    except (UnicodeError, ValueError):
        pass
    try:
        return domain.encode("ascii").decode("idna")
    except (UnicodeError, ValueError):
        return domain


def unicode_address(address: str) -> str:
    """An address for people to read: its domain as Unicode (``unicode_domain``)."""
    local, at, domain = address.rpartition("@")
    return f"{local}@{unicode_domain(domain)}" if at else address


def domain_of(address: str) -> str:
    """The domain part of a normalised address ('' when there is none)."""
    return address.rpartition("@")[2]


def is_automated_address(address: str) -> bool:
    """Whether the local part says nobody reads it (noreply, mailer-daemon, bounces…)."""
    return bool(_AUTOMATED_LOCAL.match(address.partition("@")[0]))


def is_automated_message(header: Iterable[tuple[str, str]]) -> str | None:
    """Why the message is machine-sent (List-Id, Auto-Submitted, Precedence), or ``None``."""
    for name, value in header:
        key, val = name.lower(), value.strip().lower()
        if key in {"list-id", "list-unsubscribe"}:
            return f"{name} header"
        if key == "auto-submitted" and val and val != "no":
            return f"Auto-Submitted: {val}"
        if key == "precedence" and val in {"bulk", "list", "junk"}:
            return f"Precedence: {val}"
        if key in {"x-autoreply", "x-autorespond"}:
            return f"{name} header"
    return None


def guess_company(domain: str, free_mail: frozenset[str]) -> str | None:
    """``acme-logistics.co.uk`` → ``Acme Logistics``; ``None`` for free-mail and bare hosts."""
    domain = domain.lower()
    if not domain or domain in free_mail or "." not in domain:
        return None
    domain = unicode_domain(domain)
    labels = [label for label in domain.split(".") if label]
    # Drop the public suffix: "pl", or two labels such as "co.uk" and "com.pl".
    suffix = 2 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 1
    labels = labels[:-suffix]
    labels = [label for label in labels if label not in _HOST_LABELS]
    if not labels:
        return None
    name = labels[-1].replace("-", " ").replace("_", " ").strip()
    return " ".join(word[:1].upper() + word[1:] for word in name.split()) or None
