"""Inbound ids: short, time-sortable, and safe to print in an SMTP reply (Crockford base32)."""

from __future__ import annotations

import os
import random
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#: Seeded from the OS once per process: the random part only has to keep ids of one millisecond apart (ids are
#: not secrets: the web checks every viewer's rights), and ``secrets`` would read the OS for every id, a system
#: call on the gateway's commit thread per message.
_random = random.Random(os.urandom(32))
# A forked child must not repeat its parent's sequence.
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def new_inbound_id() -> str:
    """Return an 18-character id: 48 bits of milliseconds then 40 random bits."""
    value = (time.time_ns() // 1_000_000 << 40) | _random.getrandbits(40)
    out = []
    for _ in range(18):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))
