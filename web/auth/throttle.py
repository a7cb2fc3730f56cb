"""Login backoff: failed logins counted per email and client address, in memory, each key slowing down on its own."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """How one throttle key slows down: ``free`` failures cost nothing, then each failure doubles the wait before
    the next try, from ``first`` up to ``cap`` seconds."""

    free: int
    first: float = 1.0
    cap: float = 15 * 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the last of ``failures`` failures."""
        if failures <= self.free:
            return 0.0
        return min(self.cap, math.ldexp(self.first, min(failures - self.free - 1, 60)))


#: Per email and client address: the guesser's own key, the one that slows a single attacker down.
PAIR_BACKOFF = Backoff(free=5)
#: Per client address, over every email (so one address cannot try many accounts); an office behind one NAT
#: shares it, hence the higher allowance.
ADDRESS_BACKOFF = Backoff(free=20)
#: Per email, from every address (guessing spread over many addresses): the cap is short, so failures elsewhere
#: keep the real user waiting a minute at most; and an address the user logged in from is not held back by it.
ACCOUNT_BACKOFF = Backoff(free=10, cap=60.0)
#: A key's failures are forgotten this long after its latest one.
THROTTLE_MEMORY = 60 * 60.0
#: An email and address pair that logged in is known for this long: the per-account and per-address keys spare it.
KNOWN_PAIR_MEMORY = 30 * 24 * 3600.0


class LoginThrottle:
    """Failed logins counted per email and address pair, per address and per email, in memory, with backoff.

    Past a key's free failures, each further failure doubles the wait before that key may try again; a login
    while some key waits gets a ``Retry-After`` instead of a password check, right password or not. No key ever
    locks an account for good: waits are capped, and the account-wide key (the only one another address can move)
    is capped at a minute and skipped for pairs that logged in before. Used from the event loop only; each web
    process counts on its own.
    """

    def __init__(
        self,
        *,
        pair: Backoff = PAIR_BACKOFF,
        address: Backoff = ADDRESS_BACKOFF,
        account: Backoff = ACCOUNT_BACKOFF,
        memory: float = THROTTLE_MEMORY,
        known_memory: float = KNOWN_PAIR_MEMORY,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.pair, self.address, self.account = pair, address, account
        self.memory = memory
        self.known_memory = known_memory
        self.clock = clock
        self.max_keys = max_keys
        #: key -> (failures, time of the latest)
        self._failures: dict[str, tuple[int, float]] = {}
        #: pair key -> time of its latest successful login
        self._known: dict[str, float] = {}

    def _keys(self, email: str, address: str) -> list[tuple[str, Backoff]]:
        return [
            (f"pair:{email}\n{address}", self.pair),
            (f"address:{address}", self.address),
            (f"email:{email}", self.account),
        ]

    def _entry(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry[1] >= self.memory:
            del self._failures[key]
            return None
        return entry

    def _is_known(self, pair_key: str, now: float) -> bool:
        seen = self._known.get(pair_key)
        if seen is not None and now - seen >= self.known_memory:
            del self._known[pair_key]
            return False
        return seen is not None

    def retry_after(self, email: str, address: str) -> int | None:
        """Seconds until a login for ``email`` from ``address`` may be tried again, or ``None`` if it may now."""
        now = self.clock()
        keys = self._keys(email, address)
        if self._is_known(keys[0][0], now):
            keys = keys[:1]
        wait = 0.0
        for key, backoff in keys:
            entry = self._entry(key, now)
            if entry is not None:
                failures, latest = entry
                wait = max(wait, latest + backoff.delay(failures) - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def add_failure(self, email: str, address: str) -> None:
        """Count one failed login on each of its keys."""
        now = self.clock()
        if len(self._failures) + 3 > self.max_keys:
            self._prune(now)
        for key, _ in self._keys(email, address):
            entry = self._entry(key, now)
            self._failures.pop(key, None)  # re-inserted: the dict keeps the most recently failed last
            self._failures[key] = ((entry[0] if entry else 0) + 1, now)

    def add_success(self, email: str, address: str) -> None:
        """Forget the failures of the pair and of the email after a login, and know the pair from now on (the
        address keeps its count: one good account must not wipe a spray over others)."""
        now = self.clock()
        pair_key, _ = self._keys(email, address)[0]
        self._failures.pop(pair_key, None)
        self._failures.pop(f"email:{email}", None)
        if len(self._known) >= self.max_keys:
            for key in list(self._known)[: len(self._known) - self.max_keys + 1]:
                del self._known[key]
        self._known.pop(pair_key, None)
        self._known[pair_key] = now  # re-inserted: the dict keeps the most recent last

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._entry(key, now)
        # Still full: drop the oldest keys rather than grow without bound.
        for key in list(self._failures)[: max(0, len(self._failures) - self.max_keys + 3)]:
            del self._failures[key]
