"""Engine creation (SQLite in WAL mode, or PostgreSQL) and Alembic migrations run from code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from store.errors import SchemaError, StoreUnavailableError, describe_db_error
from store.files import create_private_file, make_private_dirs

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry, *, durable: bool = True) -> None:
    # WAL lets readers (web, queue CLI) run beside the writer; synchronous=FULL fsyncs the WAL on every
    # commit, which is what "250 means durable" needs (NORMAL may lose the last commits on power loss).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _sqlite_pragmas_not_durable(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
    _sqlite_pragmas(dbapi_conn, record, durable=False)


def _create_sqlite_file(url: URL) -> None:
    """The database file (and its directory) made private before SQLite opens it: SQLite would create it 0644 less
    the umask, and gives its ``-wal`` and ``-shm`` files the database file's mode."""
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:") or url.query.get("uri"):
        return  # in memory, or a URI filename SQLite itself interprets
    make_private_dirs(Path(path).parent)
    create_private_file(Path(path))


def make_engine(url: str, *, connect_timeout: float = 5.0, durable: bool = True) -> Engine:
    """Create an engine for ``url``; a SQLite database file that does not exist yet is created, mode 0600, in a
    directory created 0700 if need be (``store.files``).

    ``durable=False`` (SQLite only): commits are not fsync'd (``synchronous=NORMAL``). They stay atomic and the
    database consistent, but the last ones may be undone by a power loss: only for writes that are redone when
    lost (``Store.filing.apply_plan``), never for a receipt behind a 250."""
    if url.startswith("sqlite"):
        _create_sqlite_file(make_url(url))
        engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas if durable else _sqlite_pragmas_not_durable)
        return engine
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=connect_timeout,
        connect_args={
            "connect_timeout": max(1, int(connect_timeout)),
            # A network black hole must surface as an error, not a thread blocked for the kernel's ~15 minutes:
            # keepalives catch a silent peer on idle connections, tcp_user_timeout on unacknowledged writes.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 15000,
        },
    )
    event.listen(engine, "connect", _postgresql_session)
    return engine


def _postgresql_session(dbapi_connection: Any, _record: Any) -> None:
    # Our statements are short reads and writes. PostgreSQL compiles one with JIT once its estimated cost passes
    # jit_above_cost, which an estimate several times too high reaches: a viewer page's count then spent 0.4 s
    # compiling for 0.1 s of work (bench/RESULTS.md, "Viewer pages"). Set per session, not as a startup option,
    # which a connection pooler such as PgBouncer may refuse.
    dbapi_connection.autocommit = True
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET jit = off")
        cursor.close()
    finally:
        dbapi_connection.autocommit = False


def _alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://"))).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or ``None`` for an empty database."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreUnavailableError(f"database unreachable: {describe_db_error(exc)}") from exc


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every pending migration; return (before, after) revisions."""
    before = current_revision(engine)
    try:
        command.upgrade(_alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise StoreUnavailableError(f"migration failed: {describe_db_error(exc)}") from exc
    return before, head_revision()


def check_schema(engine: Engine) -> None:
    """Raise ``SchemaError`` unless the database is at the head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise SchemaError(f"database schema is {state}, this version needs {head}: run 'mailassist db upgrade'")
