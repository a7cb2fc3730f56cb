"""Inbound ids: short, time-sortable, and safe to print in an SMTP reply (Crockford base32)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_inbound_id() -> str:
    """Return an 18-character id: 48 bits of milliseconds then 40 random bits."""
    value = (int(time.time() * 1000) << 40) | secrets.randbits(40)
    out = []
    for _ in range(18):
        value, digit = divmod(value, 32)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))
