"""The SMTP load generators of the intake benchmarks: an asyncio one that sends each message once, over concurrent
sessions, recording each DATA reply and its latency; and Postfix's ``smtp-source``, a C one, where it is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from _common import read_reply
from _smtp import ASSISTANT, SENDER

_QUEUED = re.compile(r"queued as (\S+)")


class _Rated(Protocol):
    @property
    def rate(self) -> float: ...


_R = TypeVar("_R", bound=_Rated)


def median_round(rounds: Sequence[_R]) -> _R:
    """The round with the median rate (the upper one of an even count), its other figures with it."""
    return sorted(rounds, key=lambda r: r.rate)[len(rounds) // 2]


@dataclass
class LoadResult:
    """What one load run saw: the DATA replies, their latencies, and the wall time."""

    sessions: int
    per_conn: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    queued_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: The server's CPU time per accepted message during the run (set by the caller that knows its process).
    cpu_ms: float = float("nan")

    @property
    def accepted(self) -> int:
        return sum(1 for c in self.codes if c == 250)

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Latency percentile in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


class _Client:
    """A minimal SMTP client on asyncio streams: enough for EHLO, MAIL, RCPT, DATA, QUIT."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> _Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        client = cls(reader, writer)
        code, text = await client.reply()
        if code != 220:
            raise ConnectionError(f"greeting {code} {text}")
        await client.command(b"EHLO bench.test", 250)
        return client

    async def reply(self) -> tuple[int, str]:
        code, lines = await read_reply(self.reader)
        return code, " ".join(line[4:].strip().decode(errors="replace") for line in lines)

    async def command(self, line: bytes, expect: int) -> None:
        self.writer.write(line + b"\r\n")
        code, text = await self.reply()
        if code != expect:
            raise _Refused(code, text)

    async def transaction(self, raw: bytes) -> tuple[int, str, float]:
        """MAIL, RCPT, DATA; returns the final reply and the seconds from the end of data to that reply."""
        await self.command(f"MAIL FROM:<{SENDER}>".encode(), 250)
        await self.command(f"RCPT TO:<{ASSISTANT}>".encode(), 250)
        await self.command(b"DATA", 354)
        self.writer.write(raw)
        await self.writer.drain()
        started = time.perf_counter()
        self.writer.write(b".\r\n")
        code, text = await self.reply()
        return code, text, time.perf_counter() - started

    async def close(self) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            self.writer.write(b"QUIT\r\n")
            await self.reply()
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.wait_closed()


class _Refused(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code


async def _session(port: int, messages: list[bytes], per_conn: int, result: LoadResult) -> None:
    client: _Client | None = None
    sent_on_conn = 0
    while messages:
        raw = messages.pop()
        try:
            if client is None:
                client = await _Client.connect(port)
                sent_on_conn = 0
            code, text, seconds = await client.transaction(raw)
        except _Refused as exc:
            result.codes.append(exc.code)
            result.errors.append(str(exc))
            code, text, seconds = exc.code, str(exc), 0.0
        except (OSError, ConnectionError) as exc:
            result.codes.append(0)
            result.errors.append(f"{type(exc).__name__}: {exc}")
            client = None
            continue
        else:
            result.codes.append(code)
            if code == 250:
                result.latencies.append(seconds)
                match = _QUEUED.search(text)
                if match:
                    result.queued_ids.append(match.group(1))
            else:
                result.errors.append(f"{code} {text}")
        sent_on_conn += 1
        if client is not None and (sent_on_conn >= per_conn or code != 250):
            await client.close()
            client = None
    if client is not None:
        await client.close()


async def run_load(port: int, messages: Sequence[bytes], *, sessions: int, per_conn: int) -> LoadResult:
    """Send ``messages`` over ``sessions`` concurrent connections, ``per_conn`` messages per connection."""
    result = LoadResult(sessions=sessions, per_conn=per_conn)
    todo = list(messages)
    started = time.perf_counter()
    await asyncio.gather(*(_session(port, todo, per_conn, result) for _ in range(sessions)))
    result.seconds = time.perf_counter() - started
    return result


# --- Postfix's smtp-source, a load generator in C ------------------------------------------------------------


def smtp_source() -> tuple[str, dict[str, str]] | None:
    """Postfix's ``smtp-source`` and the environment to run it in, or ``None`` when it is not here. Found on the
    PATH, in ``/usr/sbin`` (the ``postfix`` package), or at ``$MAILASSIST_BENCH_SMTP_SOURCE``: e.g. unpacked
    without installing the mail server (``apt-get download postfix && dpkg -x postfix_*.deb DIR``), its libraries
    then beside it in ``DIR/usr/lib/postfix``."""
    import shutil

    for candidate in (
        os.environ.get("MAILASSIST_BENCH_SMTP_SOURCE"),
        shutil.which("smtp-source"),
        "/usr/sbin/smtp-source",
    ):
        if candidate and os.access(candidate, os.X_OK):
            path = Path(candidate).resolve()
            libs = path.parent.parent / "lib" / "postfix"
            env = dict(os.environ)
            if libs.is_dir():
                env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(libs), env.get("LD_LIBRARY_PATH")) if p)
            return str(path), env
    return None


def run_smtp_source(
    found: tuple[str, dict[str, str]],
    port: int,
    count: int,
    *,
    sessions: int,
    reuse: bool,
    message_file: Path | None = None,
) -> tuple[float, float]:
    """Send ``count`` messages of about 4 KiB with ``smtp-source`` (or ``message_file``'s, header and body, each
    time the same: ``-F``, LF line ends; it adds one empty line at the end); returns (seconds, its own CPU
    seconds). It stops at the first reply that is not positive, so a clean exit means every message got its 250."""
    path, env = found
    content = ["-F", str(message_file)] if message_file is not None else ["-l", "3900"]
    args = [path, "-s", str(sessions), "-m", str(count), *content, "-f", SENDER, "-t", ASSISTANT]
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(
        [*args, *(["-d"] if reuse else []), f"127.0.0.1:{port}"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - started
    after = os.times()
    if done.returncode != 0:
        raise RuntimeError(f"smtp-source failed ({done.returncode}): {(done.stderr or done.stdout)[-500:]}")
    return seconds, (after.children_user + after.children_system) - (before.children_user + before.children_system)
