"""A small asyncio SMTP load generator and the server processes it talks to, for ``bench/pipeline.py``.

Each session keeps its connection and sends message after message (MAIL, RCPT, DATA), recording when its first
byte left and when the reply came. Either as fast as the server answers (``blast``) or open-loop at a fixed rate
(``paced``): message ``i`` is due at ``start + i / rate`` whatever happened to the ones before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import ASSISTANT, cpu_seconds, read_reply, stop_process
from _mail import Mail

_QUEUED = re.compile(rb"queued as (\S+)")


@dataclass
class Sent:
    """One message's fate at the client: wall-clock times (``time.time()``), reply code, receipt id."""

    first_byte: float = 0.0
    replied: float = 0.0
    code: int = 0
    queued_id: str | None = None


def data_payload(raw: bytes) -> bytes:
    """``raw`` with CRLF line ends, dot-stuffed, and the end-of-data line."""
    body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", body) + b".\r\n"


class Session:
    """One SMTP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Session:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        session = cls(reader, writer)
        await session.reply()
        await session.command(b"EHLO bench.example.com")
        return session

    async def reply(self) -> tuple[int, bytes]:
        code, lines = await read_reply(self.reader)
        return code, b"".join(lines)

    async def command(self, line: bytes) -> tuple[int, bytes]:
        self.writer.write(line + b"\r\n")
        return await self.reply()

    async def send(self, mail_from: str, payload: bytes, sent: Sent) -> None:
        """One transaction; ``payload`` from ``data_payload``. A refusal ends it with RSET."""
        sent.first_byte = time.time()
        steps = (f"MAIL FROM:<{mail_from}>".encode(), f"RCPT TO:<{ASSISTANT}>".encode(), b"DATA")
        for step, expect in zip(steps, (250, 250, 354), strict=True):
            code, text = await self.command(step)
            if code != expect:
                sent.code, sent.replied = code, time.time()
                await self.command(b"RSET")
                return
        self.writer.write(payload)
        code, text = await self.reply()
        sent.code, sent.replied = code, time.time()
        found = _QUEUED.search(text)
        sent.queued_id = found.group(1).decode() if found else None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.command(b"QUIT"), 5)
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def _run(port: int, mails: Sequence[Mail], sessions: int, rate: float | None) -> list[Sent]:
    payloads = [data_payload(m.raw) for m in mails]
    results = [Sent() for _ in mails]
    order = iter(range(len(mails)))
    start = time.perf_counter() + 0.05

    async def session_loop() -> None:
        session = await Session.open("127.0.0.1", port)
        try:
            for i in order:
                if rate is not None:
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await session.send(mails[i].mail_from, payloads[i], results[i])
        finally:
            await session.close()

    await asyncio.gather(*(session_loop() for _ in range(sessions)))
    return results


def blast(port: int, mails: Sequence[Mail], *, sessions: int) -> list[Sent]:
    """Send ``mails`` over ``sessions`` connections as fast as the server replies."""
    return asyncio.run(_run(port, mails, sessions, None))


def paced(port: int, mails: Sequence[Mail], *, rate: float, sessions: int) -> list[Sent]:
    """Send ``mails`` open-loop at ``rate`` messages per second over up to ``sessions`` connections."""
    return asyncio.run(_run(port, mails, sessions, rate))


# --- server processes -------------------------------------------------------------------------------------------


@dataclass
class Process:
    """A running ``mailassist`` command; stderr (its log) goes to ``log``."""

    proc: subprocess.Popen[str]
    log: Path
    lines: list[str] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """User + system CPU time this process has used so far (all its threads), from ``/proc``."""
        return cpu_seconds(self.proc.pid)

    def stop(self, timeout: float = 30.0) -> None:
        stop_process(self.proc, timeout)


def mailassist(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "mailassist", "--config", str(config), *args]


def run_cli(config: Path, *args: str) -> str:
    """Run a ``mailassist`` command to completion; its stdout, or ``RuntimeError`` with stderr."""
    done = subprocess.run(
        mailassist(config, *args), capture_output=True, text=True, timeout=300, env=_env(), check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"mailassist {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILASSIST_CONFIG"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def running(config: Path, command: str, log: Path, *, timeout: float = 60.0) -> Iterator[Process]:
    """Start ``mailassist COMMAND``, wait for its ``mailassist: …`` line, and stop it on the way out."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            mailassist(config, command), stdout=subprocess.PIPE, stderr=err, text=True, env=_env(), cwd=config.parent
        )
    process = Process(proc, log)
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            process.lines.append(line.rstrip("\n"))
            if line.startswith("mailassist: "):
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(timeout) or proc.poll() is not None:
            raise RuntimeError(f"mailassist {command} did not start: {log.read_text()[-2000:]}")
        yield process
    finally:
        process.stop()
