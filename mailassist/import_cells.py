"""One cell of a directory row (``mailassist.importer``), checked and put in the form the store keeps: names,
``;``-separated lists, addresses, domains and time zones. A bad cell raises ``RowError``, whose message starts
with the column's name."""

from __future__ import annotations

import re
from collections.abc import Mapping

from linker.addresses import normalize_domain as canonical_domain
from linker.encoded_words import decode_encoded_words

#: The longest address SMTP can carry (RFC 5321: 256 octets for the path, minus the angle brackets).
MAX_ADDRESS = 254
#: A domain label: letters, digits and inner hyphens; non-ASCII labels are checked in their IDNA form.
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
#: A dot-atom local part; ``\w`` lets internationalized addresses (RFC 6531) through.
_LOCAL = re.compile(r"^[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*$")


class RowError(ValueError):
    """One thing wrong with one row; ``str()`` is the message, which starts with the column's name."""


def normalize_domain(value: str) -> str | None:
    """``value`` in its matching form (lower case; an IDN as A-labels, ``żabka.pl`` → ``xn--abka-99a.pl``, as the
    linker looks it up) if it is a plausible domain name, else ``None``."""
    domain = value.strip().removesuffix(".")
    if not domain or len(domain) > 253 or domain.endswith("."):
        return None
    ascii_form = canonical_domain(domain)
    labels = ascii_form.split(".")
    if len(ascii_form) > 253 or len(labels) < 2 or labels[-1].isdigit() or not all(map(_LABEL.match, labels)):
        return None
    return ascii_form


def normalize_address(value: str) -> str | None:
    """``value`` in its matching form (local part lower-cased, domain by ``normalize_domain``) if it is a
    plausible email address (no DNS lookup), else ``None``."""
    address = value.strip()
    local, at, domain = address.rpartition("@")
    if not at or len(address) > MAX_ADDRESS or len(local) > 64 or not _LOCAL.match(local):
        return None
    if domain != domain.strip() or domain.endswith("."):
        return None
    domain_ok = normalize_domain(domain)
    found = f"{local.lower()}@{domain_ok}" if domain_ok else None
    return found if found is not None and len(found) <= MAX_ADDRESS else None


def text(cells: Mapping[str, str], column: str, *, required: bool) -> str:
    """A name or title: inner whitespace collapsed, RFC 2047 words decoded."""
    # A line break typed into a spreadsheet cell is layout. A name copied from a raw mail header keeps its RFC 2047
    # words (``Jan =?utf-8?q?Nov=C3=A1k?=``): they are decoded.
    value = " ".join(decode_encoded_words(cells[column]).split())
    if required and not value:
        raise RowError(f"{column}: required, but empty")
    return value


def items(cells: Mapping[str, str], column: str) -> list[str]:
    """The ``;``-separated items of a list cell, stripped, without empty ones or repeats."""
    return list(dict.fromkeys(item.strip() for item in cells[column].split(";") if item.strip()))


def address(column: str, value: str) -> str:
    """One email address in its matching form."""
    found = normalize_address(value)
    if found is None:
        hint = " (separate several with ';')" if re.search(r"[,\s]", value.strip()) else ""
        raise RowError(f"{column}: not an email address: '{value}'{hint}")
    return found


def addresses(cells: Mapping[str, str], column: str) -> tuple[str, ...]:
    """A list cell of email addresses, each in its matching form."""
    return tuple(dict.fromkeys(address(column, item) for item in items(cells, column)))


def domains(cells: Mapping[str, str], column: str) -> tuple[str, ...]:
    """A list cell of domain names, each in its matching form."""
    found: list[str] = []
    for item in items(cells, column):
        domain = normalize_domain(item)
        if domain is None:
            hint = " (a domain, not an address)" if "@" in item else ""
            raise RowError(f"{column}: not a domain name: '{item}'{hint}")
        found.append(domain)
    return tuple(dict.fromkeys(found))


def time_zone(cells: Mapping[str, str], column: str) -> str | None:
    """An IANA zone name (``Europe/Warsaw``), checked as ``mailassist user set-time-zone`` checks it; ``None`` for
    an empty cell."""
    # Imported here, as the CLI does: the web package (and Starlette with it) is loaded only for a file that uses it.
    from web.timezone import find_zone  # noqa: PLC0415

    value = cells[column].strip()
    if not value:
        return None
    if find_zone(value) is None:
        raise RowError(
            f"{column}: '{value[:80]}' is not a time zone; use an IANA name such as Europe/Warsaw or America/New_York"
        )
    return value
