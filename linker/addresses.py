"""Address rules: normalising for lookups, what is internal, what is automated, and guessing a company name."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable

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


def normalize_address(address: str, *, strip_plus: bool = False) -> str:
    """Lower-case, IDNA-encode the domain, and optionally drop a ``+tag`` from the local part."""
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()
    if strip_plus and "+" in local[1:]:
        local = local.split("+", 1)[0]
    return f"{local.lower()}@{normalize_domain(domain)}"


def normalize_domain(domain: str) -> str:
    """Lower-case ASCII (IDNA) form of a domain; left as lower-case text when it is not valid IDNA."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


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
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("ascii").decode("idna")
    labels = [label for label in domain.split(".") if label]
    # Drop the public suffix: "pl", or two labels such as "co.uk" and "com.pl".
    suffix = 2 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 1
    labels = labels[:-suffix]
    labels = [label for label in labels if label not in _HOST_LABELS]
    if not labels:
        return None
    name = labels[-1].replace("-", " ").replace("_", " ").strip()
    return " ".join(word[:1].upper() + word[1:] for word in name.split()) or None
