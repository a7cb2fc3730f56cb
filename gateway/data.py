"""Reading one DATA body into a single buffer, for ``gateway.session.GatewaySession.smtp_DATA``.

aiosmtpd's reader keeps one bytearray per line and then joins them: two heap blocks per 78-byte line plus the
joined copy, about three times the message at peak. This reader appends the wire bytes to one bytearray in large
chunks and removes the dot-stuffing at the end (in place of a copy only when a line starts with a dot), so a
message costs about its own size, plus the bytearray's growth slack.

Lines longer than 1000 characters are accepted (aiosmtpd refuses them with 500); ``data_size_limit`` still applies.
A ``DataWatch`` cuts off a client that stalls or trickles while it holds a DATA slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

#: A line holding one dot ends the data; its CRLF-preceded form is what the chunk reader looks for.
END = b"\r\n.\r\n"


@dataclass(slots=True)
class DataRead:
    """The outcome: ``message`` (de-stuffed, the last CRLF kept), or ``too_big`` with the bytes thrown away."""

    message: bytearray
    too_big: bool = False


#: A watch re-checks no sooner than this after its last check (a timer may fire a hair early).
MIN_CHECK_INTERVAL = 0.01


class DataWatch:
    """Watches one DATA transfer: ``on_stall("data_timeout")`` once no byte has come for ``timeout`` seconds,
    ``on_stall("data_too_slow")`` once, ``grace`` seconds or more after the start, fewer than ``min_rate`` bytes a
    second have come on average (``min_rate`` 0: no such check). ``on_stall`` is called at most once.

    The session reports the bytes as they arrive (``feed``, from ``data_received``: ``read_data`` sees them only
    a line or a kilobyte at a time). A single timer is moved only when it fires, to the first moment either
    condition could hold if nothing more arrived, so a fast transfer costs a clock read per chunk.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        timeout: float,
        min_rate: float,
        grace: float,
        on_stall: Callable[[str], None],
    ) -> None:
        self.loop = loop
        self.timeout = timeout
        self.min_rate = min_rate
        self.grace = grace
        self.on_stall = on_stall
        self.size = 0
        self.started = self.last = loop.time()
        self.stalled: str | None = None
        self._timer: asyncio.TimerHandle | None = loop.call_at(self._next_check(self.started), self._check)

    def feed(self, size: int) -> None:
        """``size`` more bytes arrived."""
        self.size += size
        self.last = self.loop.time()

    def close(self) -> None:
        """The transfer ended (or the connection did): stop watching."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def elapsed(self) -> float:
        """Seconds since the watch started."""
        return self.loop.time() - self.started

    def _next_check(self, now: float) -> float:
        at = self.last + self.timeout
        if self.min_rate:
            # When the average would fall to min_rate if nothing more came, and never inside the grace period.
            at = min(at, self.started + max(self.grace, self.size / self.min_rate))
        return max(at, now + MIN_CHECK_INTERVAL)

    def _check(self) -> None:
        self._timer = None
        now = self.loop.time()
        if now - self.last >= self.timeout:
            self.stalled = "data_timeout"
        elif self.min_rate and now - self.started >= self.grace and self.size < self.min_rate * (now - self.started):
            self.stalled = "data_too_slow"
        else:
            self._timer = self.loop.call_at(self._next_check(now), self._check)
            return
        self.on_stall(self.stalled)


async def read_data(reader: asyncio.StreamReader, limit: int | None) -> DataRead:
    """Read up to the terminating dot line. Past ``limit`` wire bytes the rest is read and dropped (552 follows).

    Raises ``asyncio.IncompleteReadError`` when the client hangs up first.
    """
    wire = bytearray()
    size = 0
    # The last bytes read, after a virtual CRLF (so an empty message, a lone ".\r\n", ends like any other).
    recent = b"\r\n"
    while True:
        if _partial_end(recent):
            # The end may straddle what was read and what comes next: go one byte at a time until it cannot.
            chunk = await reader.readexactly(1)
        else:
            # readuntil never splits the end between two chunks, so it is found here whole.
            chunk = await _read_until(reader, END)
        size += len(chunk)
        recent = (recent + chunk)[-len(END) :]
        done = recent == END
        if limit and size - 3 * done > limit:
            wire = bytearray()  # too big: keep reading to the end, keep nothing
        else:
            wire += chunk
        if done:
            break
    if limit and size - 3 > limit:
        return DataRead(bytearray(), too_big=True)
    del wire[-3:]  # the ".\r\n" line; the CRLF before it ends the last line of the message
    return DataRead(_unstuff(wire))


def _partial_end(recent: bytes) -> bool:
    """Whether ``recent`` ends with a proper prefix of the end marker."""
    return any(recent.endswith(END[:k]) for k in range(1, len(END)))


async def _read_until(reader: asyncio.StreamReader, separator: bytes) -> bytes:
    """Up to and including ``separator``, or as much as can be taken without splitting one (large chunks)."""
    try:
        return await reader.readuntil(separator)
    except asyncio.LimitOverrunError as exc:
        # The buffer holds more than the reader's limit and no separator: take all of it that cannot be the
        # start of one (readuntil keeps the last len(separator) - 1 bytes back).
        return await reader.read(exc.consumed)


def _unstuff(wire: bytearray) -> bytearray:
    """Remove the leading dot of every line (RFC 5321 §4.5.2); a copy only when some line has one."""
    if wire.startswith(b"."):
        del wire[0]
    if b"\r\n." in wire:
        return wire.replace(b"\r\n.", b"\r\n")
    return wire
