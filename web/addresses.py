"""Addresses as people read them: an IDN domain in Unicode (``żabka.test``), where the store keeps the A-labels
(``xn--abka-99a.test``) that addresses are matched by (README, "How a message is filed")."""

from __future__ import annotations

import idna
from markupsafe import Markup, escape

#: Longer text is no address or domain: shown as it is, without IDNA's work.
MAX_SHOWN = 320


def shown_domain(domain: str) -> str:
    """``domain`` with its A-labels in Unicode (IDNA 2008, else 2003); as it is when they do not decode."""
    if "xn--" not in domain.lower() or len(domain) > MAX_SHOWN:
        return domain
    try:
        return idna.decode(domain)
    except (UnicodeError, ValueError):
        pass
    try:
        return domain.encode("ascii").decode("idna")
    except (UnicodeError, ValueError):
        return domain


def shown_address(value: str | None) -> str | None:
    """An address (or a bare domain) with its domain as people read it; other text (a name) as it is."""
    if value is None or "xn--" not in value.lower() or any(char.isspace() for char in value):
        return value
    local, at, domain = value.rpartition("@")
    return f"{local}@{shown_domain(domain)}" if at else shown_domain(value)


def breakable_address(value: str | None) -> Markup:
    """An address as ``shown_address`` shows it, HTML-escaped, where a line may break only after its ``@`` and
    before each dot (``<wbr>``): never inside a word of it, as ``overflow-wrap: anywhere`` did."""
    text = str(escape(shown_address(value) or ""))
    return Markup(text.replace("@", "@<wbr>").replace(".", "<wbr>."))  # noqa: S704 (escaped just above)
