"""Store down: while PostgreSQL is unreachable the gateway answers ``451 4.3.0`` and writes no row; when it is
back, mail is accepted again; and a server that cannot reach it at start says so in one line (invariant 1).

A PostgreSQL that is black-holed (connections open, no answers) also gives a 451 in time, bounded by
``[smtp] store_timeout``."""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import psycopg
import pytest
from sqlalchemy.engine import make_url

from store import Store
from tests.conftest import free_port
from tests.support import (
    USER,
    Reply,
    mailassist_command,
    make_message,
    run_cli,
    running,
    seed_user,
    send,
    send_queued,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

#: The SMTP client's patience for a reply; a 451 must come well before it.
CLIENT_TIMEOUT = 30.0
#: How fast a refused database connection must turn into a 451.
FAST_451 = 10.0
#: Client patience in the black-hole test: kept short so the test stays fast (real MTAs wait up to 10 minutes).
STALL_CLIENT_TIMEOUT = 15.0


class _Pair:
    """One proxied connection: the client's socket and ours to the server, closed when both pumps end."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.sockets = (client, server)
        self._pumps = 2
        self._lock = threading.Lock()

    def shutdown(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def pump_finished(self) -> None:
        # Shutting both ends wakes the other pump; the last one out closes the file descriptors.
        self.shutdown()
        with self._lock:
            self._pumps -= 1
            last = self._pumps == 0
        if last:
            for sock in self.sockets:
                sock.close()


class TcpProxy:
    """Forwards a local port to ``upstream``. ``cut()`` drops every connection and refuses new ones (the port
    closes, like a database host gone away); ``stall()`` keeps connections open but forwards nothing (a network
    partition: packets vanish); ``restore()`` undoes either."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listening = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._accepting: threading.Thread | None = None

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.cut()
        for thread in self._threads:
            thread.join(10)

    def restore(self) -> None:
        """Listen (again) and forward data."""
        self._flowing.set()
        if self._accepting is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listening.set()
        self._accepting = self._spawn(self._accept, listener)

    def stall(self) -> None:
        """Hold every byte in both directions, on open and new connections, until ``restore()``."""
        self._flowing.clear()

    def cut(self) -> None:
        """Stop listening and drop every open connection."""
        self._listening.clear()
        if self._accepting is not None:
            self._accepting.join(10)
            self._accepting = None
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.shutdown()
        self._flowing.set()  # stalled pumps wake up, find their sockets shut, and exit

    def _spawn(self, target: object, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()
        return thread

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while self._listening.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                try:
                    server = socket.create_connection(self.upstream, timeout=5)
                except OSError:
                    client.close()
                    continue
                server.settimeout(None)
                pair = _Pair(client, server)
                with self._lock:
                    self._pairs.add(pair)
                self._spawn(self._pump, pair, client, server)
                self._spawn(self._pump, pair, server, client)

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._pairs.discard(pair)
            pair.pump_finished()


@pytest.fixture
def proxy(pg_url: str) -> Iterator[TcpProxy]:
    pg = make_url(pg_url)
    with TcpProxy((pg.host or "127.0.0.1", pg.port or 5432)) as p:
        yield p


def _config(tmp_path: Path, store_url: str) -> tuple[Path, int]:
    smtp_port = free_port()
    config = write_config(
        tmp_path / "mailassist.toml",
        {
            "smtp": {"listen": f"127.0.0.1:{smtp_port}", "store_timeout": 5},
            "web": {"listen": f"127.0.0.1:{free_port()}"},
            "store": {"url": store_url, "blob_dir": str(tmp_path / "blobs")},
            "queue": {"broker": "memory", "sweep_interval": 1, "sweep_grace": 2, "min_backoff": 0.5, "max_backoff": 1},
        },
    )
    return config, smtp_port


def _rows(pg_url: str) -> dict[str, tuple[int, str, str]]:
    """``id -> (size, sha256, status)`` read straight from PostgreSQL, not through the proxy."""
    with psycopg.connect(make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        return {
            i: (size, sha, status)
            for i, size, sha, status in conn.execute("SELECT id, size, sha256, status FROM inbound")
        }


def test_unreachable_database_answers_451_and_writes_nothing(tmp_path: Path, pg_url: str, proxy: TcpProxy) -> None:
    # Given a migrated PostgreSQL with one user, reached by `mailassist serve` only through a proxy we control
    seed_user(pg_url, tmp_path / "blobs", USER)
    config, smtp_port = _config(tmp_path, make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False))
    sent: dict[str, bytes] = {}
    refused: list[bytes] = []
    with running(config, "serve", log_path=tmp_path / "serve.log") as child:
        for n in range(2):
            raw = make_message(n, tag="before")
            sent[send_queued(smtp_port, raw)] = raw

        # When the database goes away (open connections dropped, new ones refused)
        proxy.cut()

        # Then every message gets a quick 451 4.3.0, so the sending server keeps it and retries
        for n in range(3):
            raw = make_message(n, tag="outage")
            started = time.monotonic()
            reply = send(smtp_port, raw, timeout=CLIENT_TIMEOUT)
            elapsed = time.monotonic() - started
            assert (reply.code, reply.text.split()[0]) == (451, "4.3.0"), reply
            assert elapsed < FAST_451, f"451 took {elapsed:.1f}s"
            refused.append(raw)

        # When the database is back, mail is accepted again
        proxy.restore()
        for n in range(2):
            raw = make_message(n, tag="after")
            sent[send_queued(smtp_port, raw)] = raw

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and {r[2] for r in _rows(pg_url).values()} != {"linked"}:
            time.sleep(0.2)
        assert child.stop(timeout=40) == 0, child.log_text()[-3000:]
    assert any(e.get("level") == "error" and e.get("size") for e in child.events()), "the outage was not logged"

    # Then PostgreSQL holds a complete row for exactly the 250'd messages, and nothing for the 451'd ones
    rows = _rows(pg_url)
    assert rows.keys() == sent.keys()
    store = Store(pg_url, tmp_path / "blobs")
    try:
        for inbound_id, raw in sent.items():
            size, sha256, status = rows[inbound_id]
            assert (size, sha256, status) == (len(raw), hashlib.sha256(raw).hexdigest(), "linked")
            assert store.content.get_blob(sha256) == raw
    finally:
        store.close()
    refused_hashes = {hashlib.sha256(raw).hexdigest() for raw in refused}
    assert not refused_hashes & {sha for _, sha, _ in rows.values()}


def test_unreachable_database_at_start_is_one_clear_line(tmp_path: Path, pg_url: str, proxy: TcpProxy) -> None:
    # Given a migrated database that the server can reach only through a proxy that is down
    seed_user(pg_url, tmp_path / "blobs", USER)
    config, _ = _config(tmp_path, make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False))
    proxy.cut()

    # When `mailassist serve` starts, then it exits non-zero with one line on stderr and no traceback
    started = time.monotonic()
    result = run_cli(config, "serve", timeout=60)
    assert result.returncode == 1, (mailassist_command(config, "serve"), result.stdout, result.stderr)
    assert time.monotonic() - started < 30
    assert "mailassist: SMTP on" not in result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mailassist: database unreachable: OperationalError"), lines[0]
    assert f"port {proxy.port} failed: Connection refused" in lines[0], lines[0]


def test_black_holed_database_answers_451_before_the_client_gives_up(
    tmp_path: Path, pg_url: str, proxy: TcpProxy
) -> None:
    # Given a serve process whose connection pool is warm (several connections opened by concurrent mail)
    seed_user(pg_url, tmp_path / "blobs", USER)
    config, smtp_port = _config(tmp_path, make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False))
    with running(config, "serve", log_path=tmp_path / "serve.log") as child:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: send_queued(smtp_port, make_message(n, tag="warm")), range(16)))

        # When the network to the database silently drops every packet (connections stay open, nothing answers)
        proxy.stall()
        try:
            started = time.monotonic()
            try:
                reply: Reply | str = send(smtp_port, make_message(0, tag="stalled"), timeout=STALL_CLIENT_TIMEOUT)
            except (OSError, smtplib.SMTPException) as exc:
                reply = repr(exc)
            elapsed = time.monotonic() - started
        finally:
            proxy.restore()
        assert child.stop(timeout=40) == 0, child.log_text()[-3000:]

    # Then the gateway still answers 451 4.3.0 in time ([smtp] store_timeout), so the sending server retries
    assert isinstance(reply, Reply), f"no SMTP reply after {elapsed:.1f}s: {reply}"
    assert (reply.code, reply.text.split()[0]) == (451, "4.3.0"), reply
    assert elapsed < FAST_451
