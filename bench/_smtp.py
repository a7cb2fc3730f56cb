"""Shared by the SMTP benchmarks: the servers under test, a bare aiosmtpd baseline server and the ``mailassist smtp``
child process with its temporary config, users and (optionally) a fresh PostgreSQL database. The load generators
that drive them are in ``_smtp_load.py``.

Run as a script (``python bench/_smtp.py bare PORT``) it is the baseline server: aiosmtpd, configured like the
gateway (``decode_data=False``, SMTPUTF8), answering 250 to every DATA and storing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _common import free_port, pg_database, stop_process

ROOT = Path(__file__).resolve().parent.parent
#: Registered in every benchmark database (from ``examples/users.csv``).
SENDER = "anna.nowak@example.com"
ASSISTANT = "assistant@crm.example.com"
#: Server URL under which each PostgreSQL run creates (and drops) its own database.
#: ``mailassist smtp`` needs a real broker; a database number of its own keeps the wake-ups it sends (nobody
#: consumes them here) away from other users of the Redis server, and is emptied after each run.
REDIS_URL = os.environ.get("MAILASSIST_BENCH_REDIS", "redis://127.0.0.1:6379/11")


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


# --- servers under test ------------------------------------------------------------------------------------


@dataclass
class Server:
    """A server child process listening on ``port``."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        stop_process(self.proc)


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


def start_server(
    stack: contextlib.ExitStack,
    where: Path,
    backend: str | None,
    *,
    log_level: str = "info",
    sections: dict[str, dict[str, object]] | None = None,
) -> Server:
    """A server in a new folder ``where``, stopped when ``stack`` closes: bare aiosmtpd when ``backend`` is ``None``,
    else ``mailassist smtp`` on that backend (``sections`` added to its config)."""
    where.mkdir()
    if backend is None:
        return stack.enter_context(bare_server(where))
    return stack.enter_context(mailassist_smtp(where, backend, log_level=log_level, sections=sections))


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
