"""A viewer-sized store, and how long the directory indexes take on it.

``seed_viewer(store)`` bulk-loads a directory (10k clients by default, each with a domain and an address, two
contacts each, a record for every other client, as many leads as clients) and 100k filed messages with their
participants, links (submitter, contact, client; some a record or a lead) and receipts, plus some ignored and
failed receipts that were never filed. Everything comes from a seed: two runs load the same rows. Users: two admins
(role ``all``), team members and ``own`` users in five teams; ``SEEDED_PASSWORD`` logs in as ``ADMIN``,
``TEAM_USER`` or ``OWN_USER``. The browser's performance check loads the same store through this function.

Run as a script, it seeds a fresh store and times each page (``pages``: the dashboard, the message list, each index
per sort with and without a search, a directory page of each kind, a message, the ingest log, ``/api/messages``)
in-process through the real app, as an admin, a ``team`` member and an ``own`` user, prints the least time, p50
and p95 in milliseconds (the least is what to compare on a busy machine), and exits 1 when a page's p95 is over
``--bound`` (100 ms, issue 19's goal)::

    python bench/seed_viewer.py [--pg] [--clients 10000] [--messages 100000] [--rounds 30] [--bound 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, percentile, scratch_store
from _viewer_rows import ADMIN, Rows

from store import Store

SEEDED_PASSWORD = "viewer bench password"
TEAM_USER = "team1@example.com"
OWN_USER = "own1@example.com"


@dataclass(frozen=True)
class Seeded:
    """What ``seed_viewer`` loaded: counts, and the users to log in as."""

    clients: int
    contacts: int
    records: int
    leads: int
    users: int
    messages: int
    links: int
    receipts: int
    admin: str = ADMIN
    team_user: str = TEAM_USER
    own_user: str = OWN_USER
    password: str = SEEDED_PASSWORD


def seed_viewer(store: Store, *, clients: int = 10_000, messages: int = 100_000, seed: int = 7) -> Seeded:
    """Bulk-load the directory and mail into an opened, migrated, empty ``store``; return what it holds."""
    from web.auth.passwords import hash_password

    sqlite = store.is_sqlite
    rows = Rows(clients, messages, seed, sqlite=sqlite)
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, columns, values in rows.tables():
            if sqlite:
                marks = ", ".join("?" * len(columns))
                cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values)
            else:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in values:
                        copy.write_row(row)
                if table not in ("inbound",):
                    cur.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
        raw.commit()
    finally:
        raw.close()
    store.queries.rebuild_index_counts()  # the rows above bypassed the store, which keeps these as it files
    # Statistics of every table, the kept ones included; on PostgreSQL vacuumed too, as a store in use is, so that
    # autovacuum does not start on the fresh rows while pages are timed.
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE" if sqlite else "VACUUM ANALYZE")
    hashed = hash_password(SEEDED_PASSWORD)
    for email in (ADMIN, TEAM_USER, OWN_USER):
        assert store.auth.set_password_hash(email, hashed), email
    return Seeded(
        clients=clients,
        contacts=2 * clients,
        records=clients // 2,
        leads=clients,
        users=len(rows.users),
        messages=messages,
        links=rows.links,
        receipts=rows.receipts,
    )


# --- timing the index pages ----------------------------------------------------------------------------------------


@contextmanager
def _store(pg: bool) -> Iterator[Store]:
    """A fresh, migrated store (SQLite, or a new PostgreSQL database) in a scratch folder, dropped afterwards."""
    with tempfile.TemporaryDirectory(prefix="seed-viewer-") as workdir, scratch_store(Path(workdir), pg=pg) as store:
        yield store


def pages(seeded: Seeded, message_id: int = 1) -> list[str]:
    """The URLs to time: every index with every sort, a search, a second page's worth of filters; the dashboard, the
    message list (plain, by client, searched), a directory page of each kind, the busiest client's (2: the
    seed's skew gives it ~5,600 messages, grouped into conversations) and its contact 4's, one message
    (``message_id``), the ingest log and the API's message list."""
    urls = ["/", "/codes", "/messages", "/messages?client=1", "/messages?q=offer", "/api/messages"]
    for index in ("clients", "contacts", "leads", "records", "users"):
        sorts = ("new", "name", "count", "last") if index == "leads" else ("name", "count", "last")
        urls += [f"/{index}?sort={s}" for s in sorts]
    urls += ["/clients?q=client%200042", "/clients?q=client4&sort=count", "/contacts?q=nowak&sort=last"]
    urls += ["/records?q=OP-12", "/leads?q=gmail&sort=count", "/users?q=team&sort=count"]
    urls += ["/clients/1", "/clients/2", "/contacts/1", "/contacts/4", "/leads/1", "/records/1"]
    urls += [f"/messages/{message_id}", "/inbound"]
    return urls


def _visible_message(store: Store, email: str) -> int:
    """The newest message ``email`` submitted: one its viewer may open."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        found = conn.scalar(
            text("SELECT max(m.id) FROM messages m JOIN users u ON u.id = m.submitter_user_id WHERE u.email = :e"),
            {"e": email},
        )
    return int(found or 1)


def _newest(store: Store) -> datetime:
    """When the newest seeded message was filed: the seed's "now"."""
    from sqlalchemy import func, select

    from store.models import Message

    with store.engine.connect() as conn:
        newest = conn.scalar(select(func.max(Message.created_at)))
    return newest or datetime.now(UTC)


def time_pages(
    store: Store, seeded: Seeded, *, rounds: int, users: tuple[str, ...] = ()
) -> list[tuple[str, str, float, float, float, int]]:
    """(user, url, least ms, p50 ms, p95 ms, status) for every page of ``pages`` as the admin, a team member and an
    ``own`` user."""
    from starlette.testclient import TestClient

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mailassist import heap
    from tests.web.conftest import log_in
    from web.app import create_app

    # The pages' clock stands at the seed's newest mail, so the dashboard's last day, week and chart hold mail.
    now = _newest(store)
    app = create_app(store, secret_key="seed-viewer-" + "k" * 32, clock=lambda: now)
    heap.settle()  # as the viewer process does once it has started (mailassist/runtime.py)
    results = []
    for email in users or (seeded.admin, seeded.team_user, seeded.own_user):
        with TestClient(app, follow_redirects=False) as client:
            log_in(client, email, seeded.password)
            for url in pages(seeded, _visible_message(store, email)):
                status = client.get(url).status_code  # warm the caches once
                times = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    status = client.get(url).status_code
                    times.append((time.perf_counter() - start) * 1000)
                results.append((email, url, min(times), statistics.median(times), percentile(times, 95), status))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", action="store_true", help="PostgreSQL at 127.0.0.1:5432 instead of SQLite")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--bound", type=float, default=100.0, help="p95 ms a page may take (exit 1 if over)")
    args = parser.parse_args()
    print(machine())
    with _store(args.pg) as store:
        start = time.perf_counter()
        seeded = seed_viewer(store, clients=args.clients, messages=args.messages)
        print(f"seeded in {time.perf_counter() - start:.1f} s: {seeded}")
        worst, over = 0.0, []
        for email, url, least, p50, p95, status in time_pages(store, seeded, rounds=args.rounds):
            worst = max(worst, p95)
            if p95 > args.bound:
                over.append(f"{email} {url}")
            print(f"{email:22} {url:36} min {least:6.1f}  p50 {p50:6.1f}  p95 {p95:6.1f} ms  {status}")
        print(f"worst page p95: {worst:.1f} ms ({'pg' if args.pg else 'sqlite'}); over {args.bound:g} ms: {len(over)}")
        for page in over:
            print(f"  over: {page}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
