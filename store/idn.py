"""Addresses and domains in the form the store keeps them: an internationalized domain in its A-labels.

The linker puts every address it files, and every import its rows, in that form (README, "How a message is
filed"). What a person types (a search, a login) may name the domain in Unicode: ``idna_form`` meets it.
"""

from __future__ import annotations

import idna

#: The longest DNS label (RFC 1035).
MAX_LABEL = 63


def idna_form(text: str) -> str | None:
    """``text`` as the store keeps an IDN in addresses and domains: each non-ASCII label of its domain (the part
    after its last ``@``, or all of it) in A-labels by IDNA 2008 with UTS #46 (``Biuro@Żabka.pl`` →
    ``Biuro@xn--abka-99a.pl``). ``None`` when there is nothing to encode or a label does not encode."""
    local, at, domain = text.rpartition("@")
    if domain.isascii():
        return None
    labels = []
    for label in domain.split("."):
        if len(label) > MAX_LABEL:  # no label, and punycode's work grows faster than its length
            return None
        try:
            labels.append(label if label.isascii() else idna.encode(label, uts46=True).decode("ascii"))
        except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError; a label over 63 octets is one
            return None
    return local + at + ".".join(labels)


def stored_email(email: str) -> str:
    """An email address as typed (a login, a CLI argument) in the form users are stored in: trimmed, lower-case,
    its domain in A-labels."""
    email = email.strip().lower()
    return idna_form(email) or email
