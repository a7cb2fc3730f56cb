"""The one object every verb group of ``Store`` shares: the engines, their sessions, and the ways to use them.

A group calls only these methods (and module functions), never another group's: ``run`` a write transaction,
``run_redoable`` one that is redone when lost, ``read`` on a plain connection, and ``reading()`` to serve a
thread's reads from one connection for a while.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store.db import make_engine
from store.errors import StoreUnavailableError, describe_db_error

T = TypeVar("T")

#: PostgreSQL: this transaction's commit returns before its WAL reaches the disk (it may be lost in a server crash,
#: never half-applied).
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
#: In a forked child (``Database.after_fork``): the parent's connection pools, never closed here.
_INHERITED_POOLS: list[object] = []


class Database:
    """The engines of one database, opened once per process, with database errors wrapped as
    ``StoreUnavailableError`` wherever they surface."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, connect_timeout=connect_timeout)
        #: Where linking results are written (``Filing.apply_plan``). A lost one is redone (its receipt is still
        #: ``queued``, and the sweeper re-sends it), so its commit need not wait for the disk: on SQLite a second
        #: pool whose connections do not fsync each commit (the file's own fsync'd commits, the intake's, carry
        #: them to disk too); on PostgreSQL the same pool, with an asynchronous commit per transaction.
        self.linking_engine: Engine = (
            make_engine(url, connect_timeout=connect_timeout, durable=False)
            if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:")
            else self.engine
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._linking_sessions = sessionmaker(self.linking_engine, expire_on_commit=False)
        self._reader = threading.local()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()
        if self.linking_engine is not self.engine:
            self.linking_engine.dispose()

    def after_fork(self) -> None:
        """In a forked child: new connections for this process. The parent's pooled ones are kept referenced and
        never used or closed here (closing SQLite's copy in a child is undefined; a PostgreSQL one would log the
        parent's session out)."""
        for engine in {self.engine, self.linking_engine}:
            _INHERITED_POOLS.append(engine.pool)
            engine.dispose(close=False)

    @contextmanager
    def session(self, *, redoable: bool = False) -> Iterator[Session]:
        """A session (no transaction begun), on the linking engine when ``redoable``."""
        try:
            with (self._linking_sessions if redoable else self._sessions)() as session:
                yield session
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(describe_db_error(exc)) from exc

    def run(self, fn: Callable[[Session], T]) -> T:
        """``fn`` in one transaction, committed when it returns."""
        with self.session() as session, session.begin():
            return fn(session)

    def run_redoable(self, fn: Callable[[Session], T]) -> T:
        """``run`` for writes that are redone if lost (see ``linking_engine``): committed without waiting for the
        disk. Atomic all the same: after a crash the transaction is there entirely or not at all."""
        with self.session(redoable=True) as session, session.begin():
            if self.linking_engine.dialect.name == "postgresql":
                session.execute(_ASYNC_COMMIT)
            return fn(session)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Serve this thread's reads (lookups, receipts, inline blobs) from one connection and one read transaction
        until the block ends: a checkout costs a pool ping and a rollback, more than a small query."""
        reader = self._reader
        if getattr(reader, "conn", None) is not None:
            yield
            return
        try:
            conn = self.engine.connect()
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(describe_db_error(exc)) from exc
        reader.conn = conn
        try:
            yield
        finally:
            reader.conn = None
            with contextlib.suppress(SQLAlchemyError):
                conn.close()  # rolls back the read transaction

    def read(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` on this thread's ``reading`` connection, or on one of its own; database errors wrapped."""
        conn: Connection | None = getattr(self._reader, "conn", None)
        try:
            if conn is not None:
                return fn(conn)
            with self.engine.connect() as own:
                return fn(own)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(describe_db_error(exc)) from exc
