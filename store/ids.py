"""Inbound ids: short, time-sortable, and safe to print in an SMTP reply (Crockford base32)."""

from __future__ import annotations

import base64
import os
import random
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class _IdSource:
    """One per process. The random part is drawn from a generator seeded by the OS: it only has to keep ids of
    one millisecond apart (ids are not secrets: the web checks every viewer's rights), and ``secrets`` would read
    the OS for every id, a system call on the gateway's commit thread per message.

    Ids of one process only go up: within one millisecond (where the random part alone would order them by
    chance) and when the clock steps back, the next id is the last one plus one.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # Also run in a forked child: it must not repeat its parent's sequence, nor wait on a lock that another
        # thread of the parent held at the fork.
        self.random = random.Random(os.urandom(32))
        self.lock = threading.Lock()
        self.last = 0

    def next(self) -> int:
        millis = time.time_ns() // 1_000_000
        with self.lock:
            value = (millis << 40) | self.random.getrandbits(40)
            if value <= self.last:
                value = self.last + 1
            self.last = value
            return value


_source = _IdSource()
os.register_at_fork(after_in_child=_source.reset)


#: RFC 4648 base32 (what ``base64.b32encode`` writes) to Crockford's alphabet, for ``bytes.translate``.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def new_inbound_id() -> str:
    """Return an 18-character id: 48 bits of milliseconds then 40 random bits, above this process's last id."""
    return _encode(_source.next())


def _encode(value: int) -> str:
    """``value`` (under 2**90) as 18 Crockford base32 digits, most significant first."""
    # In 15 bytes: 24 base32 digits, the first 6 always zero (encoded in C, not digit by digit)
    return base64.b32encode(value.to_bytes(15, "big"))[6:].translate(_TO_CROCKFORD).decode("ascii")
