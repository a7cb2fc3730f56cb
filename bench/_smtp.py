"""Shared by the SMTP benchmarks: an asyncio SMTP load generator, a bare aiosmtpd baseline server, and the
``mailassist smtp`` child process with its temporary config, users and (optionally) a fresh PostgreSQL database.

Run as a script (``python bench/_smtp.py bare PORT``) it is the baseline server: aiosmtpd, configured like the
gateway (``decode_data=False``, SMTPUTF8), answering 250 to every DATA and storing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import pg_database

ROOT = Path(__file__).resolve().parent.parent
#: Registered in every benchmark database (from ``examples/users.csv``).
SENDER = "anna.nowak@example.com"
ASSISTANT = "assistant@crm.example.com"
#: Server URL under which each PostgreSQL run creates (and drops) its own database.
#: ``mailassist smtp`` needs a real broker; a database number of its own keeps the wake-ups it sends (nobody
#: consumes them here) away from other users of the Redis server, and is emptied after each run.
REDIS_URL = os.environ.get("MAILASSIST_BENCH_REDIS", "redis://127.0.0.1:6379/11")
_QUEUED = re.compile(r"queued as (\S+)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_message(n: int, size: int, *, tag: str = "bench") -> bytes:
    """A unique message of ``size`` bytes (CRLF lines, no line starting with a dot), from the registered user."""
    head = (
        f"From: Anna Nowak <{SENDER}>\r\nTo: jan.kowalski@acme-logistics.pl\r\n"
        f"Subject: Fleet renewal {tag} {n}\r\nMessage-ID: <{tag}-{n}-{secrets.token_hex(6)}@example.com>\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
    ).encode()
    line = b"x" * 76 + b"\r\n"
    body = line * max(0, (size - len(head)) // len(line))
    tail = size - len(head) - len(body)
    if tail >= 3:
        body += b"y" * (tail - 2) + b"\r\n"
    return head + body


# --- the load generator ------------------------------------------------------------------------------------


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
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            lines.append(line[4:].strip().decode(errors="replace"))
            if line[3:4] != b"-":
                return int(line[:3]), " ".join(lines)

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


# --- servers under test ------------------------------------------------------------------------------------


@dataclass
class Server:
    """A server child process listening on ``port``."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(4).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server not ready on port {port} after {timeout}s")


@contextlib.contextmanager
def bare_server(workdir: Path, *, max_message_size: int = 25 * 1024 * 1024) -> Iterator[Server]:
    """The baseline: aiosmtpd answering 250 to every DATA, in a child process."""
    port = free_port()
    log = workdir / "bare.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, __file__, "bare", str(port), str(max_message_size)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(proc, port, log)
    try:
        _wait_ready(proc, port, log)
        yield server
    finally:
        server.stop()


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    """Write a TOML config of ``[section] key = value`` lines."""
    lines = []
    for name, keys in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def mailassist(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a short ``mailassist`` command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "mailassist", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=check,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "MAILASSIST_CONFIG"},
    )


def _empty_redis_queue() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter("dramatiq:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@dataclass
class Gateway(Server):
    """``mailassist smtp`` with its config and store."""

    config: Path = Path()
    store_url: str = ""
    blob_dir: Path = Path()


@contextlib.contextmanager
def mailassist_smtp(
    workdir: Path,
    backend: str,
    *,
    smtp: dict[str, object] | None = None,
    log_level: str = "info",
    sections: dict[str, dict[str, object]] | None = None,
) -> Iterator[Gateway]:
    """``mailassist smtp`` as a child process, with a fresh store (``sqlite`` or ``postgres``) and the example
    users imported; stopped with SIGTERM (a graceful stop) on exit. ``sections`` adds config sections (``trust``)."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        sqlite = f"sqlite:///{workdir / 'mailassist.db'}"
        url = stack.enter_context(pg_database()) if backend == "postgres" else sqlite
        blob_dir = workdir / "blobs"
        config = write_config(
            workdir / "mailassist.toml",
            {
                "smtp": {"listen": f"127.0.0.1:{port}", **(smtp or {})},
                "assistant": {"addresses": [ASSISTANT]},
                "organization": {"domains": ["example.com"]},
                "store": {"url": url, "blob_dir": str(blob_dir)},
                "queue": {"broker": REDIS_URL},
                "logging": {"level": log_level},
                **(sections or {}),
            },
        )
        mailassist(config, "db", "upgrade")
        mailassist(config, "import", "users", str(ROOT / "examples" / "users.csv"))
        log = workdir / "smtp.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mailassist", "--config", str(config), "smtp"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )
        gateway = Gateway(proc, port, log, config=config, store_url=url, blob_dir=blob_dir)
        try:
            _wait_ready(proc, port, log)
            yield gateway
        finally:
            gateway.stop()
            _empty_redis_queue()


def stored_ids(store_url: str) -> set[str]:
    """Ids of every inbound row in the store."""
    from sqlalchemy import create_engine, text

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text("SELECT id FROM inbound"))}
    finally:
        engine.dispose()


def tempdir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A scratch directory under ``$TMPDIR`` (a real disk, so fsync costs what it costs)."""
    return tempfile.TemporaryDirectory(prefix=prefix)


# --- the bare baseline server (child process) --------------------------------------------------------------


def _serve_bare(port: int, max_message_size: int) -> None:
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            return "250 2.0.0 Ok: queued"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(
                Handler(),
                data_size_limit=max_message_size,
                hostname="bare.localhost",
                enable_SMTPUTF8=True,
                decode_data=False,
            ),
            host="127.0.0.1",
            port=port,
            reuse_address=True,
        )
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


if __name__ == "__main__" and sys.argv[1:2] == ["bare"]:
    _serve_bare(int(sys.argv[2]), int(sys.argv[3]))
