"""Shared pieces of the benchmarks: machine details, process CPU and memory, percentiles, sanity checks, scratch
stores and server configs. The synthetic directory and the mixed mail are in ``_mail.py``."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from store import Store

ROOT = Path(__file__).resolve().parent.parent
#: Where a benchmark on PostgreSQL creates (and drops) its databases.
PG_ADMIN_URL = os.environ.get("MAILASSIST_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ASSISTANT = "assistant@crm.example.com"
ORG_DOMAIN = "example.com"
#: Record code prefix → type, as in the config the servers run with.
CODES = {"OP": "deal"}


# --- machine ------------------------------------------------------------------------------------------------


def machine() -> str:
    """One line: cores, CPU model, Python and SQLite versions (PostgreSQL's when ``psql`` answers)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [
        f"{os.cpu_count()} cpus ({model})",
        f"Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    pg = postgres_version()
    if pg:
        parts.append(f"PostgreSQL {pg}")
    return ", ".join(parts)


def postgres_version(host: str = "127.0.0.1") -> str | None:
    """The server version from ``psql``, or ``None`` when it is not reachable."""
    try:
        out = subprocess.run(
            ["psql", "-w", "-h", host, "-U", "postgres", "-d", "postgres", "-XtAc", "show server_version"],
            capture_output=True,
            check=False,
            text=True,
            timeout=5,
            env={**os.environ, "PGCONNECT_TIMEOUT": "3"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().split()[0] if out.returncode == 0 and out.stdout.strip() else None


# --- statistics ---------------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (the gateway's storage process, for one), from ``/proc``."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                todo += [int(c) for c in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` and the processes below it have used so far (all their threads),
    from ``/proc``; NaN once ``pid`` is gone."""
    total = float("nan")
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        total = seconds if member == pid else total + seconds
    return total


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class PeakSampler:
    """The largest value ``sample()`` returns while in use, sampled every ``interval`` seconds on a thread (for
    figures the kernel keeps no peak of); ``peak`` starts at ``floor`` and takes a last sample on the way out."""

    def __init__(self, sample: Callable[[], int], interval: float, floor: int = 0) -> None:
        self.sample = sample
        self.interval = interval
        self.peak = floor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.sample())

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.sample())


class SanityError(Exception):
    """A benchmark's own check failed: the figures would be meaningless."""


def check(condition: bool, what: str) -> None:
    """Raise ``SanityError(what)`` unless ``condition``."""
    if not condition:
        raise SanityError(what)


def run_main(main: Callable[[], int | None]) -> NoReturn:
    """Run a benchmark's ``main`` as a script: output line-buffered (progress shows when piped too), and a failed
    sanity check one line on stderr and exit 1."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        sys.exit(main())
    except SanityError as exc:
        print(f"sanity check failed: {exc}", file=sys.stderr)
        sys.exit(1)


def print_failures(cases: int, failures: Sequence[str]) -> int:
    """An evaluation's closing lines: each failing case, then ``N passed, N failed``; returns the failures."""
    if failures:
        print("\nfailing cases:")
        for line in failures:
            print(f"  {line}")
    print(f"{cases - len(failures)} passed, {len(failures)} failed")
    return len(failures)


# --- processes and stores -----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, list[bytes]]:
    """One SMTP reply: its code and every line of it (``250-`` lines up to the ``250 `` one)."""
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        lines.append(line)
        if line[3:4] != b"-":
            return int(line[:3]), lines


def stop_process(proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """Stop a server child gracefully (SIGTERM), killing it when it does not end within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg

    name = f"mailassist_bench_{secrets.token_hex(5)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_store(folder: Path, *, pg: bool) -> Iterator[Store]:
    """A fresh, migrated store (SQLite in ``folder``, or a new PostgreSQL database), closed and dropped afterwards;
    blobs go under ``folder``."""
    from store import Store

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(pg_database()) if pg else f"sqlite:///{folder}/mailassist.db"
        store = Store(url, folder / "blobs")
        stack.callback(store.close)
        store.open(upgrade=True)
        yield store


def config_sections(
    *, smtp_port: int, web_port: int, store_url: str, blob_dir: Path, broker: str
) -> dict[str, dict[str, object]]:
    """The TOML sections of a server config for these benchmarks (see ``write_config``)."""
    return {
        "smtp": {"listen": f"127.0.0.1:{smtp_port}", "max_connections": 200},
        "web": {"listen": f"127.0.0.1:{web_port}"},
        "assistant": {"addresses": [ASSISTANT]},
        "organization": {"domains": [ORG_DOMAIN]},
        "store": {"url": store_url, "blob_dir": str(blob_dir)},
        "queue": {"broker": broker},
        "codes": dict(CODES),
        "logging": {"level": "info", "format": "json"},
    }


def write_config(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    """Write ``{"section": {"key": value}}`` as TOML (strings, numbers, lists of strings)."""
    import json

    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
