"""gateway.data: the DATA body read into one buffer, dot-stuffing undone, the end found across any chunking."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.data import read_data

MESSAGES = [
    b"",
    b"\r\n",
    b"a\r\n",
    b".\r\n",
    b"..\r\n",
    b"\r\n\r\n",
    b"x\r\r\n",
    b"\r\r\n",
    b".a\r\n.\r\n\r\n",
    b"Subject: x\r\n\r\nbody\r\n.\r\n..\r\nend\r\n",
    (b"y" * 3000 + b"\r\n") * 3,
    b"\r\n.x\r\n",
]


def stuff(message: bytes) -> bytes:
    """What a client sends for ``message``: every line starting with a dot gets one more, then the end line."""
    lines = message.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines) + b".\r\n"


async def receive(wire: bytes, piece: int, limit: int | None = None) -> tuple[bytes | None, bytes]:
    reader = asyncio.StreamReader(limit=1001)  # aiosmtpd's reader limit

    async def feed() -> None:
        for i in range(0, len(wire), piece):
            reader.feed_data(wire[i : i + piece])
            await asyncio.sleep(0)

    feeding = asyncio.ensure_future(feed())
    read = await read_data(reader, limit)
    await feeding
    reader.feed_eof()
    return (None if read.too_big else bytes(read.message)), await reader.read()


@pytest.mark.parametrize("piece", [1, 3, 1000, 65536])
@pytest.mark.parametrize("message", MESSAGES)
def test_reads_exactly_the_message_and_leaves_what_follows(message: bytes, piece: int) -> None:
    got, rest = asyncio.run(receive(stuff(message) + b"QUIT\r\n", piece))
    assert got == message
    assert rest == b"QUIT\r\n"


def test_random_messages_survive_random_chunking() -> None:
    rng = random.Random(5)
    parts = [b".", b"..", b"\r\n", b"x", b"\r\n.\r\n", b"y" * 2500]
    for _ in range(100):
        message = b"".join(rng.choice(parts) for _ in range(rng.randint(0, 8)))
        if message and not message.endswith(b"\r\n"):
            message += b"\r\n"
        got, rest = asyncio.run(receive(stuff(message) + b"NOOP\r\n", rng.choice([1, 2, 7, 4096])))
        assert (got, rest) == (message, b"NOOP\r\n")


def test_size_limit_counts_wire_bytes_and_drains_the_rest() -> None:
    message = b"a" * 98 + b"\r\n"
    assert asyncio.run(receive(stuff(message), 7, limit=100))[0] == message
    got, rest = asyncio.run(receive(stuff(message) + b"RSET\r\n", 7, limit=99))
    assert got is None
    assert rest == b"RSET\r\n"


def test_client_hanging_up_mid_data_raises() -> None:
    async def scenario() -> None:
        reader = asyncio.StreamReader(limit=1001)
        reader.feed_data(b"Subject: cut\r\n\r\nhal")
        reader.feed_eof()
        await read_data(reader, None)

    with pytest.raises(asyncio.IncompleteReadError):
        asyncio.run(scenario())
