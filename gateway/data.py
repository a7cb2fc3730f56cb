"""Reading one DATA body into a single buffer, for ``_Session.smtp_DATA``.

aiosmtpd's reader keeps one bytearray per line and then joins them: two heap blocks per 78-byte line plus the
joined copy, about three times the message at peak. This reader appends the wire bytes to one bytearray in large
chunks and removes the dot-stuffing at the end (in place of a copy only when a line starts with a dot), so a
message costs about its own size, plus the bytearray's growth slack.

Lines longer than 1000 characters are accepted (aiosmtpd refuses them with 500); ``data_size_limit`` still applies.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

#: A line holding one dot ends the data; its CRLF-preceded form is what the chunk reader looks for.
END = b"\r\n.\r\n"


@dataclass(slots=True)
class DataRead:
    """The outcome: ``message`` (de-stuffed, the last CRLF kept), or ``too_big`` with the bytes thrown away."""

    message: bytearray
    too_big: bool = False


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
