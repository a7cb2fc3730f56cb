"""Directory lookups cost one query per 500 keys, use their key index, and share one connection in a read."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from store import Store
from store.models import Link, Message, Participant, User
from store.shapes import UserRow
from tests.conftest import engine_events
from tests.store.lookups_support import ACME, many, statements

#: Each kind of row, found by the linker's lookups: ``find_people`` (one statement, four kinds) and records by code.
LOOKUPS: dict[str, Callable[[Store, list[str]], object]] = {
    "contacts": lambda s, keys: s.directory.find_people(keys).contacts,
    "client_emails": lambda s, keys: s.directory.find_people(keys).client_emails,
    "leads": lambda s, keys: s.directory.find_people(keys).leads,
    "domains": lambda s, keys: s.directory.find_people([f"someone@{k}" for k in keys]).client_domains,
    "records": lambda s, keys: s.directory.find_records_by_codes(keys),
}


#: The index each lookup finds its keys by.
KEY_INDEX = {
    "contacts": "uq_contact_emails_address",
    "client_emails": "uq_client_emails_address",
    "leads": "uq_leads_address",
    "domains": "uq_client_domains_domain",
    "records": "uq_records_code",
}


def miss(key: str) -> str:
    """A key like ``key`` that finds nothing."""
    return key.replace("@", "@no-") if "@" in key else f"XX-{key}"


@pytest.mark.parametrize(
    ("hits", "misses", "queries"), [(1, 0, 1), (3, 3, 1), (500, 0, 1), (600, 400, 2), (600, 401, 3)]
)
def test_each_lookup_is_one_query_per_500_keys(store: Store, hits: int, misses: int, queries: int) -> None:
    keys = many(store, 600)
    for name, lookup in LOOKUPS.items():
        # Given keys of which `hits` find a row each (of 600 rows) and `misses` find none
        wanted = keys[name][:hits] + [miss(k) for k in keys[name][:misses]]
        # When the lookup runs
        with statements(store) as seen:
            found = lookup(store, wanted)
        # Then every hit is found, with one query per 500 keys
        assert len(found) == hits, name  # type: ignore[arg-type]
        assert len(seen) == queries, (name, seen)


def test_no_keys_no_query(store: Store) -> None:
    for name, lookup in LOOKUPS.items():
        with statements(store) as seen:
            lookup(store, [])
        assert seen == [], name


@pytest.mark.postgres
def test_lookups_use_their_key_index_on_postgres(pg_url: str, tmp_path: Path) -> None:
    store = Store(pg_url, tmp_path / "blobs")
    store.open(upgrade=True)
    try:
        keys = many(store, 2000)
        with store.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        for name, lookup in LOOKUPS.items():
            with statements(store) as seen:
                lookup(store, keys[name][:3])
            ((statement, parameters),) = seen
            with store.engine.connect() as conn:
                plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert KEY_INDEX[name] in plan, (name, plan)
            assert "Seq Scan" not in plan, (name, plan)
        with statements(store) as seen:
            store.directory.find_people([keys["contacts"][0], keys["client_emails"][1], keys["leads"][2]])
        ((statement, parameters),) = seen
        with store.engine.connect() as conn:
            plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
        for name in ("contacts", "client_emails", "leads", "domains"):
            assert KEY_INDEX[name] in plan, (name, plan)
        assert "Seq Scan" not in plan, plan
    finally:
        store.close()


def test_lookups_use_their_key_index_on_sqlite(sqlite_store: Store) -> None:
    # SQLite's plans; test_lookups_use_their_key_index_on_postgres checks PostgreSQL's.
    store = sqlite_store
    keys = many(store, 200)
    for name, lookup in LOOKUPS.items():
        with statements(store) as seen:
            lookup(store, keys[name][:3])
        ((statement, parameters),) = seen
        with store.engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        # SQLite names unique constraints sqlite_autoindex_*; the thread lookup starts from the Message-ID index
        # (joined instead, it started from every record link: a scan growing with the mail filed). find_people's
        # union: each branch (after SQLite's COMPOUND/SUBQUERY/UNION lines) starts with an index search.
        steps = [line for line in plan if not line.startswith(("COMPOUND", "LEFT-MOST", "UNION"))]
        assert not [line for line in steps if line.startswith("SCAN")], (name, plan)
        assert steps[-1 if name == "thread" else 0].startswith("SEARCH"), (name, plan)
    with statements(store) as seen:
        store.directory.find_people([keys["contacts"][0], keys["client_emails"][1], keys["leads"][2]])
    ((statement, parameters),) = seen
    with store.engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    assert not [line for line in plan if line.startswith("SCAN")], plan
    assert len([line for line in plan if line.startswith("SEARCH") and "USING" in line]) >= 4, plan
    store.directory.apply_users([UserRow(line=2, email="admin@example.com", name="Admin", team=None, role="all")])
    admin = store.directory.find_users_by_addresses(["admin@example.com"])["admin@example.com"].id
    with statements(store) as seen:
        assert len(store.directory.find_thread_links(["<m1@x>", "<m2@x>"], user_id=admin, limit=50)) == 2
    # One query for the user's role, team and addresses, one for the links
    (_viewer, (statement, parameters)) = seen
    with store.engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    assert any("ix_messages_message_id_header" in line for line in plan), plan
    assert not any("ix_links_entity" in line for line in plan), plan


def checkouts(store: Store) -> AbstractContextManager[list[Any]]:
    """Every connection checked out of the pool inside the block."""
    return engine_events(store, "checkout", lambda _dbapi, record, _proxy: record)


def test_lookups_inside_reading_share_one_connection(filled: Store) -> None:
    def ask() -> tuple[object, ...]:
        return (
            filled.directory.find_users_by_addresses(["piotr@acme-logistics.pl"]),
            filled.directory.find_people(["piotr@acme-logistics.pl", "someone@skodadily.cz"]),
            filled.directory.find_records_by_codes(["OP-123"]),
        )

    # Given lookups one message makes, outside reading(): one checkout each
    with checkouts(filled) as apart:
        expected = ask()
    # When they run inside reading()
    with checkouts(filled) as together, filled.reading():
        found = ask()
        with filled.reading():  # nested: the same connection still
            found_nested = ask()
    # Then they find the same, through one connection
    assert (len(apart), len(together)) == (3, 1)
    assert found == expected == found_nested
    # And the connection goes back: the next lookup checks out a fresh one
    with checkouts(filled) as after:
        assert filled.directory.find_records_by_codes(["OP-123"]) == expected[2]
    assert len(after) == 1


@contextmanager
def sqlite_steps(store: Store) -> Iterator[list[int]]:
    """SQLite's virtual machine steps (in tens) run by the statements inside the block: the work a query does,
    whatever plan it takes."""
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0  # go on

    def watch(dbapi_conn: sqlite3.Connection, *_: object) -> None:
        dbapi_conn.set_progress_handler(count, 10)

    def unwatch(dbapi_conn: sqlite3.Connection, *_: object) -> None:
        dbapi_conn.set_progress_handler(None, 0)

    with engine_events(store, "checkout", watch), engine_events(store, "checkin", unwatch):
        yield counted


def file_mail(store: Store, user_id: int, client: int, numbers: range) -> None:
    """Messages ``<m{number}@x>`` the user sent (submitted, and From), each linked to the client."""
    with Session(store.engine) as session, session.begin():
        for i in numbers:
            values = {"dedupe_key": f"<m{i}@x>", "message_id_header": f"<m{i}@x>", "submitter_user_id": user_id}
            insert_message = insert(Message).values(direction="outgoing", kind="bcc", raw_sha256="0", **values)
            mid = session.execute(insert_message.returning(Message.id)).scalar_one()
            link = {"message_id": mid, "entity_type": "client", "entity_id": client, "reason": "domain"}
            session.execute(insert(Link).values(link))
            address = session.execute(select(User.email).where(User.id == user_id)).scalar_one()
            session.execute(insert(Participant).values(message_id=mid, address=address, role="from"))
    store.queries.rebuild_index_counts()  # the rows above bypassed the store, which keeps its counts and team mail


def test_a_thread_lookup_does_not_grow_with_the_mail_its_user_may_see(sqlite_store: Store) -> None:
    store = sqlite_store
    store.directory.apply_clients([ACME])
    store.directory.apply_users(
        [
            UserRow(line=2, email="anna@example.com", name="Anna", team="PL", role="own"),
            UserRow(line=3, email="ola@example.com", name="Ola", team="PL", role="team"),
        ]
    )
    users = store.directory.find_users_by_addresses(["anna@example.com", "ola@example.com"])
    anna, ola = users["anna@example.com"].id, users["ola@example.com"].id
    acme = store.directory.find_people(["x@acme-logistics.pl"]).client_domains["acme-logistics.pl"].id

    def steps(user_id: int) -> int:
        with sqlite_steps(store) as counted:
            assert len(store.directory.find_thread_links(["<m0@x>"], user_id=user_id, limit=50)) == 1
        return counted[0]

    # Given one message of Anna's, the one a reply names
    file_mail(store, anna, acme, range(1))
    before = {user: steps(user) for user in (anna, ola)}
    # When Anna has sent 400 more
    file_mail(store, anna, acme, range(1, 401))
    # Then looking up the reply's thread, as her or her team mate, reads that one message, not all of hers
    after = {user: steps(user) for user in (anna, ola)}
    assert all(after[user] < 2 * before[user] + 10 for user in (anna, ola)), (before, after)
