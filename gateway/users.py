"""A short-lived cache of "which of these addresses belong to users", the one database read per DATA.

Only used to *accept*: a refusal is re-checked against the database (``fresh=True``), so a newly imported user is
never refused. A user removed from the directory may still be accepted for up to ``ttl`` seconds; the linker
files that mail with the directory as it is then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

#: Entries kept at most; past that the cache starts over (it refills within one message per address).
MAX_ENTRIES = 10_000

_NOT_A_USER = object()


def email_of(user: object | None) -> str | None:
    """A directory user's primary address (``None``: no user): what the gateway records as the submitter."""
    email = getattr(user, "email", None)
    return str(email) if email is not None else None


class UserCache:
    """Per-address lookup results (user or not) for ``ttl`` seconds; safe to share between threads."""

    def __init__(
        self,
        lookup: Callable[[Iterable[str]], Mapping[str, object]],
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lookup = lookup
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def cached(self, addresses: Iterable[str]) -> Mapping[str, object] | None:
        """Like ``find`` from the cache alone: ``None`` when any address is not in it (or expired), so the caller
        can ask the database off the event loop."""
        now = self.clock()
        found: dict[str, object] = {}
        with self._lock:
            for address in addresses:
                entry = self._entries.get(address)
                if entry is None or entry[0] < now:
                    return None
                if entry[1] is not _NOT_A_USER:
                    found[address] = entry[1]
        return found

    def find(self, addresses: Iterable[str], *, fresh: bool = False) -> Mapping[str, object]:
        """Like ``lookup``: each address that belongs to a user, mapped to the user. ``fresh`` skips the cache."""
        wanted = set(addresses)
        now = self.clock()
        found: dict[str, object] = {}
        missing: list[str] = []
        with self._lock:
            for address in wanted:
                entry = self._entries.get(address)
                if fresh or entry is None or entry[0] < now:
                    missing.append(address)
                elif entry[1] is not _NOT_A_USER:
                    found[address] = entry[1]
        if not missing:
            return found
        looked_up = self.lookup(missing)
        found.update(looked_up)
        if self.ttl > 0:
            expires = now + self.ttl
            with self._lock:
                if len(self._entries) + len(missing) > MAX_ENTRIES:
                    self._entries.clear()
                for address in missing:
                    self._entries[address] = (expires, looked_up.get(address, _NOT_A_USER))
        return found
