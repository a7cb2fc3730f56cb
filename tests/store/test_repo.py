"""Repository verbs and schema, on SQLite and on real PostgreSQL."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import SAWarning

from store import SchemaError, Store, StoreError
from store.db import _alembic_config, head_revision, make_engine
from store.models import Base
from store.search import include_name
from tests.conftest import engine_events


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect the expression index ix_messages_sort, so only PostgreSQL compares it.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_inbound_round_trip(store: Store) -> None:
    view = store.receipts.add_inbound(
        b"Subject: x\r\n\r\nbody\r\n", mail_from="a@example.com", rcpt_tos=["b@x.test", "c@x.test"], peer="1.2.3.4:5"
    )
    got = store.receipts.get_inbound(view.id)
    assert got == view
    assert got.rcpt_tos == ("b@x.test", "c@x.test")
    assert got.received_at.tzinfo is not None
    assert store.receipts.get_inbound("NOPE") is None


def test_the_worker_reads_a_queued_receipt_with_its_bytes_in_one_query(store: Store) -> None:
    small = b"Subject: small\r\n\r\nbody\r\n"
    big = b"Subject: big\r\n\r\n" + b"x" * (store.inline_max + 1)
    small_id = store.receipts.add_inbound(small, mail_from="a@example.com", rcpt_tos=["b@x.test"]).id
    big_id = store.receipts.add_inbound(big, mail_from="a@example.com", rcpt_tos=["b@x.test"]).id

    # A queued receipt whose bytes the database holds: both, from one statement
    with engine_events(store, "before_cursor_execute", lambda *args: args[2]) as seen:
        found = store.receipts.get_inbound_with_raw(small_id)
    assert len(seen) == 1
    assert found == (store.receipts.get_inbound(small_id), small)
    # Bytes kept as a file: the receipt, and get_blob reads the file
    found = store.receipts.get_inbound_with_raw(big_id)
    assert found is not None and found[1] is None
    assert store.content.get_blob(found[0].sha256) == big
    # A receipt no longer queued: no bytes read; an unknown id: nothing
    store.receipts.mark_processed(small_id, "linked")
    assert store.receipts.get_inbound_with_raw(small_id) == (store.receipts.get_inbound(small_id), None)
    assert store.receipts.get_inbound_with_raw("NOPE") is None


def test_list_inbound_newest_first_with_status_filter(store: Store) -> None:
    ids = [
        store.receipts.add_inbound(f"n{i}".encode(), mail_from="a@example.com", rcpt_tos=["b@x.test"]).id
        for i in range(3)
    ]
    store.receipts.mark_processed(ids[0], "linked")
    assert [v.id for v in store.receipts.list_inbound()] == ids[::-1]
    assert [v.id for v in store.receipts.list_inbound(status="queued")] == ids[:0:-1]
    assert [v.id for v in store.receipts.list_inbound(status="linked")] == [ids[0]]
    assert len(store.receipts.list_inbound(limit=1)) == 1
    assert store.receipts.count_inbound_by_status() == {"queued": 2, "linked": 1, "ignored": 0, "failed": 0}
    # Capped, a count stops one past the cap: the page says "more than"
    assert store.receipts.count_inbound_by_status(cap=1) == {"queued": 2, "linked": 1, "ignored": 0, "failed": 0}
    with pytest.raises(StoreError, match="unknown status"):
        store.receipts.list_inbound(status="bogus")


def test_attempts_count_up_to_failed(store: Store) -> None:
    inbound_id = store.receipts.add_inbound(b"x", mail_from="", rcpt_tos=["b@x.test"]).id
    assert store.receipts.mark_attempt_failed(inbound_id, "boom 1", max_attempts=2) == "queued"
    assert store.receipts.mark_attempt_failed(inbound_id, "boom 2" * 2000, max_attempts=2) == "failed"
    assert store.receipts.mark_attempt_failed(inbound_id, "late", max_attempts=2) is None
    row = store.receipts.get_inbound(inbound_id)
    assert row is not None
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.last_error is not None and len(row.last_error) == 4000


def test_ids_are_unique_and_sortable(sqlite_store: Store) -> None:
    ids = [sqlite_store.receipts.add_inbound(b"same", mail_from="", rcpt_tos=["b@x.test"]).id for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(len(i) == 18 and i.isalnum() and i.isupper() for i in ids)


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_postgres_refuses_to_start_on_an_old_schema(pg_url: str, tmp_path: Path) -> None:
    store = Store(pg_url, tmp_path / "blobs")
    try:
        with pytest.raises(SchemaError, match="mailassist db upgrade"):
            store.open()
        store.open(upgrade=True)
        store.open()  # at head now
    finally:
        store.close()
    assert head_revision() == "0020"


def test_sqlite_upgrades_itself(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'sub' / 'db.sqlite'}", tmp_path / "blobs")
    try:
        store.open()
        store.ping()
    finally:
        store.close()


def test_sqlite_search_rows_survive_the_move_from_triggers_to_the_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    config = _alembic_config(engine)
    # Given a database at 0006, where triggers indexed a message and its participant
    command.upgrade(config, "0006")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO messages (id, dedupe_key, subject, body_text, direction, kind, raw_sha256, created_at) "
            "VALUES (1, 'k', 'Fleet renewal', 'Offer attached.', 'incoming', 'bcc', 'x', '2026-11-30 10:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO participants (message_id, role, address, name, internal) "
            "VALUES (1, 'to', 'zofia@kurier.example', 'Zofia', 0)"
        )
    # When it is upgraded
    command.upgrade(config, "head")

    def found(q: str) -> list[int]:
        with engine.connect() as conn:
            return [
                row[0]
                for row in conn.exec_driver_sql("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (q,))
            ]

    def triggers() -> set[str]:
        with engine.connect() as conn:
            return {row[0] for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")}

    # Then the message is still found, by its text and its participant, and only the delete trigger is left
    assert found('"fleet"') == found('"zofia@kurier.example"') == [1]
    assert triggers() == {"messages_fts_message_delete"}
    # And a downgrade puts the insert triggers back
    command.downgrade(config, "0006")
    assert triggers() == {
        "messages_fts_message_delete",
        "messages_fts_message_insert",
        "messages_fts_participant_insert",
    }
    engine.dispose()


def test_an_overlong_helo_is_cut_to_fit_not_refused(store: Store) -> None:
    # A client may say anything in HELO; PostgreSQL refuses a value longer than its column.
    view = store.receipts.add_inbound(
        b"Subject: x\r\n\r\nbody\r\n",
        mail_from="a@b.example",
        rcpt_tos=["c@d.example"],
        helo="h" * 5000,
        peer="p" * 500,
    )
    assert store.receipts.get_inbound(view.id) is not None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_refusal_counts_and_receipts_survive_the_trust_migration(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/m.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    config = _alembic_config(engine)
    # Given refusals counted per code before reasons existed, and a receipt
    command.upgrade(config, "0007")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO smtp_rejections (day, code, count) VALUES ('2026-12-01', '550 5.7.1', 4)")
    # When it is upgraded
    command.upgrade(config, "head")
    with engine.begin() as conn:
        rows = conn.exec_driver_sql("SELECT code, reason, count FROM smtp_rejections").all()
        conn.exec_driver_sql(
            "INSERT INTO smtp_rejections (day, code, reason, count) VALUES ('2026-12-01', '550 5.7.1', 'x', 1)"
        )
    # Then the old count is kept with an empty reason, and a reason is now part of the key
    assert [tuple(r) for r in rows] == [("550 5.7.1", "", 4)]
    # And a downgrade adds the reasons up again
    command.downgrade(config, "0007")
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.exec_driver_sql("SELECT code, count FROM smtp_rejections")] == [("550 5.7.1", 5)]
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_users_and_tokens_from_before_sessions_get_safe_defaults(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/m.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    config = _alembic_config(engine)
    # Given a user with a token at 0008
    command.upgrade(config, "0008")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (id, email, name, role, created_at, updated_at) "
            "VALUES (1, 'anna@example.com', 'Anna', 'own', '2026-12-01 10:00:00', '2026-12-01 10:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) "
            "VALUES (1, 1, 'laptop', 'aaaa', '2026-12-01 10:00:00')"
        )
    # When it is upgraded
    command.upgrade(config, "head")
    # Then the user is at generation 0, and the token reads, never expires and is no service token
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT session_generation FROM users").scalar_one() == 0
        row = conn.exec_driver_sql("SELECT scopes, expires_at, service FROM api_tokens").one()
    assert (row[0], row[1], bool(row[2])) == ("read", None, False)
    # And a downgrade takes the columns away again
    command.downgrade(config, "0008")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM api_tokens WHERE name = 'laptop'").scalar_one() == 1
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_connections_do_not_jit_compile(pg_url: str) -> None:
    # A misestimated count once spent 0.4 s compiling for 0.1 s of work: our statements are short
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
    finally:
        engine.dispose()
