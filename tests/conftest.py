"""Shared fixtures: stores on SQLite and on real PostgreSQL, free ports, service checks.

A test needing PostgreSQL or Redis skips only when the service is absent AND ``CI`` is unset; in CI it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import dramatiq
import pytest
from sqlalchemy import event

from store import Store
from tests.kept import assert_kept_as_rebuilt

#: Server URL of the PostgreSQL service; each test gets a fresh database created under it.
PG_ADMIN_URL = os.environ.get("MAILASSIST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


T = TypeVar("T")


@contextmanager
def engine_events(store: Store, name: str, pick: Callable[..., T]) -> Iterator[list[T]]:
    """``pick(*arguments)`` of every ``name`` event of the store's engines (the linking one too) inside the block,
    in order."""
    seen: list[T] = []

    def note(*args: Any) -> None:
        seen.append(pick(*args))

    engines = {store.engine, store.database.linking_engine}
    for engine in engines:
        event.listen(engine, name, note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, name, note)


def sql_statements(store: Store) -> AbstractContextManager[list[str]]:
    """Every SQL statement sent inside the block (``with sql_statements(store) as seen``)."""
    return engine_events(store, "before_cursor_execute", lambda _conn, _cursor, statement, *_: statement)


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, available: bool) -> None:
    """Skip when a service is missing outside CI; fail inside CI."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not reachable, and CI is set: this test must run in CI")
    pytest.skip(f"{name} not reachable (set CI=1 to make this a failure)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped afterwards."""
    require_service("PostgreSQL on 127.0.0.1:5432", port_open("127.0.0.1", 5432))
    import psycopg

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"mailassist_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_available() -> None:
    """Require the Redis service."""
    require_service("Redis on 127.0.0.1:6379", port_open(REDIS_HOST, REDIS_PORT))


@pytest.fixture
def redis_server_binary() -> str:
    """Path of ``redis-server``, for tests that start and kill their own Redis."""
    path = shutil.which("redis-server")
    require_service("redis-server binary", path is not None)
    assert path is not None
    return path


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mailassist.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An opened, migrated store, once on SQLite and once on PostgreSQL."""
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    yield from _checked_store(url, tmp_path)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """An opened SQLite store only."""
    yield from _checked_store(sqlite_url(tmp_path), tmp_path)


def _checked_store(url: str, tmp_path: Path) -> Iterator[Store]:
    """An opened, migrated store; after the test, its kept counts and team mail must equal a rebuild
    (``tests/kept.py``), whatever the test wrote."""
    s = Store(url, tmp_path / "blobs")
    s.open(upgrade=True)
    try:
        yield s
        assert_kept_as_rebuilt(s)
    finally:
        s.close()


@pytest.fixture(scope="session")
def dns_server_session() -> Iterator[Any]:
    """One local DNS server (``tests.dnsserver.LocalDNS``) for the whole run; tests use ``dns_server``."""
    from tests.dnsserver import LocalDNS

    server = LocalDNS().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dns_server(dns_server_session: Any) -> Any:
    """The local DNS server (``tests.dnsserver.LocalDNS``) with an empty zone, answering, and no queries noted."""
    dns_server_session.reset()
    return dns_server_session


@pytest.fixture
def worker_for() -> Iterator[Callable[[dramatiq.Broker], dramatiq.Worker]]:
    """``worker_for(broker)``: a started dramatiq worker on ``broker`` (2 threads), stopped after the test."""
    workers: list[dramatiq.Worker] = []

    def start(broker: dramatiq.Broker) -> dramatiq.Worker:
        w = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
        w.start()
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()
