"""A viewer-sized store, and how long the directory indexes take on it.

``seed_viewer(store)`` bulk-loads a directory (10k clients by default, each with a domain and an address, two
contacts each, a record for every other client, as many leads as clients) and 100k filed messages with their
participants, links (submitter, contact, client; some a record or a lead) and receipts, plus some ignored and
failed receipts that were never filed. Everything comes from a seed: two runs load the same rows. Users: two admins
(role ``all``), team members and ``own`` users in five teams; ``SEEDED_PASSWORD`` logs in as ``ADMIN``,
``TEAM_USER`` or ``OWN_USER``. The browser's performance check loads the same store through this function.

Run as a script, it seeds a fresh store and times each page (``pages``: the dashboard, the message list, each index
per sort with and without a search, a directory page of each kind, a message, the ingest log, ``/api/messages``)
in-process through the real app, as an admin and as an ``own`` user, prints the least time, p50 and p95 in
milliseconds (the least is what to compare on a busy machine), and exits 1 when a page's p95 is over ``--bound``
(100 ms, issue 19's goal)::

    python bench/seed_viewer.py [--pg] [--clients 10000] [--messages 100000] [--rounds 30] [--bound 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, percentile

from store import Store

SEEDED_PASSWORD = "viewer bench password"
ADMIN = "admin1@example.com"
TEAM_USER = "team1@example.com"
OWN_USER = "own1@example.com"
TEAMS = 5
#: When the newest seeded message was sent; the rest spread over the two years before.
NEWEST = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


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


def _users() -> list[tuple[int, str, str, str, int | None]]:
    """(id, email, name, role, team) of every user: 2 admins, then per team 6 ``team`` and 4 ``own`` users."""
    users: list[tuple[int, str, str, str, int | None]] = [
        (1, ADMIN, "Ada Admin", "all", 1),
        (2, "admin2@example.com", "Adam Admin", "all", None),
    ]
    n = {"team": 0, "own": 0}
    for team in range(1, TEAMS + 1):
        for role in ("team",) * 6 + ("own",) * 4:
            n[role] += 1
            users.append((len(users) + 1, f"{role}{n[role]}@example.com", f"{role.title()} User {n[role]}", role, team))
    return users


class _Rows:
    """Row generators per table, in foreign-key order, with datetimes as each backend wants them."""

    def __init__(self, clients: int, messages: int, seed: int, *, sqlite: bool) -> None:
        self.n_clients = clients
        self.n_messages = messages
        self.rng = random.Random(seed)
        self.sqlite = sqlite
        self.users = _users()
        self.links = 0
        self.receipts = 0

    def when(self, value: datetime) -> Any:
        # SQLAlchemy's SQLite DateTime text: the store compares these as strings, so the format must be its own.
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def tables(self) -> Iterator[tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]]]]:
        now = self.when(NEWEST)
        n = self.n_clients
        yield "teams", ("id", "name"), ((t, f"Team {t}") for t in range(1, TEAMS + 1))
        yield (
            "users",
            ("id", "email", "name", "role", "team_id", "session_generation", "created_at", "updated_at"),
            ((u, e, name, role, team, 0, now, now) for u, e, name, role, team in self.users),
        )
        yield (
            "user_addresses",
            ("id", "user_id", "address", "is_primary"),
            ((u, u, e, True) for u, e, *_ in self.users),
        )
        yield (
            "clients",
            ("id", "name", "created_at", "updated_at"),
            ((i, f"Client {i:05d} sp. z o.o.", now, now) for i in range(1, n + 1)),
        )
        yield (
            "client_domains",
            ("id", "client_id", "domain"),
            ((i, i, f"client{i}.example.pl") for i in range(1, n + 1)),
        )
        yield (
            "client_emails",
            ("id", "client_id", "address"),
            ((i, i, f"biuro@client{i}.example.pl") for i in range(1, n + 1)),
        )
        yield (
            "contacts",
            ("id", "name", "client_id", "created_at", "updated_at"),
            ((i, f"Contact {i:05d} Nowak", 1 + (i - 1) // 2, now, now) for i in range(1, 2 * n + 1)),
        )
        yield (
            "contact_emails",
            ("id", "contact_id", "address"),
            ((i, i, f"person{i}@client{1 + (i - 1) // 2}.example.pl") for i in range(1, 2 * n + 1)),
        )
        yield (
            "records",
            ("id", "code", "type", "title", "client_id", "created_at", "updated_at"),
            ((i, f"OP-{i}", "deal", f"Deal {i} fleet renewal", 2 * i, now, now) for i in range(1, n // 2 + 1)),
        )
        yield (
            "leads",
            ("id", "address", "name", "company", "owner_user_id", "created_at"),
            (
                (i, f"lead{i}@gmail.com", f"Lead {i:05d} Kowalska", None, 1 + i % len(self.users), now)
                for i in range(1, n + 1)
            ),
        )
        yield from self.mail()

    def mail(self) -> Iterator[tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]]]]:
        rng, n = self.rng, self.n_clients
        messages: list[tuple[Any, ...]] = []
        participants: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        inbound: list[tuple[Any, ...]] = []
        fts: list[tuple[Any, ...]] = []
        span = timedelta(days=730).total_seconds()
        rcpt = json.dumps(["assistant@crm.example.com"])
        for m in range(1, self.n_messages + 1):
            user, email, uname, *_ = self.users[rng.randrange(len(self.users))]
            # A few clients get much of the mail, as in life: the index's count sort has something to sort.
            client = min(n, 1 + int(rng.paretovariate(1.2)) % n) if rng.random() < 0.1 else rng.randint(1, n)
            contact = 2 * client - rng.randint(0, 1)
            contact_address = f"person{contact}@client{client}.example.pl"
            sent = NEWEST - timedelta(seconds=rng.random() * span)
            incoming = rng.random() < 0.5
            subject = f"Offer {m} for client {client}"
            sha = hashlib.sha256(f"seed-viewer-{m}".encode()).hexdigest()
            sender, sender_name = (contact_address, f"Contact {contact:05d} Nowak") if incoming else (email, uname)
            messages.append(
                (m, f"<{m}@seed>", f"<{m}@seed>", subject, self.when(sent), sender_name, sender,
                 "incoming" if incoming else "outgoing", "redirect" if incoming else "bcc", user,
                 f"Dear customer, about offer {m}.", sha, self.when(sent))
            )  # fmt: skip
            pid = len(participants)
            me = ("to" if incoming else "from", email, uname, True, "user", user, "address")
            them = ("from" if incoming else "to", contact_address, None, False, "contact", contact, "address")
            participants.append((pid + 1, m, *me))
            participants.append((pid + 2, m, *them))
            kinds = [("user", user, "submitter"), ("contact", contact, "address"), ("client", client, "address")]
            if client % 2 == 0 and rng.random() < 0.3:
                kinds.append(("record", client // 2, "code"))
            if rng.random() < 0.15:
                kinds.append(("lead", rng.randint(1, n), "address"))
            for entity_type, entity_id, reason in kinds:
                links.append((len(links) + 1, m, entity_type, entity_id, reason, self.when(sent)))
            inbound.append(
                (f"S{m:017d}", self.when(sent), email, rcpt, email, "dkim", 4096, sha, "linked", 1,
                 f"submitted by {email}", m, self.when(sent), self.when(sent))
            )  # fmt: skip
            fts.append((m, subject, f"Dear customer, about offer {m}.", f"{uname} {email} {contact_address}"))
        for k in range(1, self.n_messages // 50 + 1):
            sent = NEWEST - timedelta(seconds=rng.random() * span)
            status, reason = ("ignored", "List-Id header: a mailing list") if k % 3 else ("failed", None)
            inbound.append(
                (f"X{k:017d}", self.when(sent), "news@lists.example.org", rcpt, None, None, 2048,
                 hashlib.sha256(f"seed-unfiled-{k}".encode()).hexdigest(), status, 1 if k % 3 else 5,
                 reason, None, self.when(sent), self.when(sent))
            )  # fmt: skip
        self.links, self.receipts = len(links), len(inbound)
        yield (
            "messages",
            ("id", "dedupe_key", "message_id_header", "subject", "date", "from_name", "from_address", "direction",
             "kind", "submitter_user_id", "body_text", "raw_sha256", "created_at"),
            iter(messages),
        )  # fmt: skip
        yield (
            "participants",
            ("id", "message_id", "role", "address", "name", "internal", "match_type", "match_id", "match_via"),
            iter(participants),
        )
        yield "links", ("id", "message_id", "entity_type", "entity_id", "reason", "created_at"), iter(links)
        yield (
            "inbound",
            ("id", "received_at", "mail_from", "rcpt_tos", "submitter", "proof", "size", "sha256", "status",
             "attempts", "reason", "message_id", "updated_at", "processed_at"),
            iter(inbound),
        )  # fmt: skip
        if self.sqlite:
            yield "messages_fts", ("rowid", "subject", "body_text", "addresses"), iter(fts)


def seed_viewer(store: Store, *, clients: int = 10_000, messages: int = 100_000, seed: int = 7) -> Seeded:
    """Bulk-load the directory and mail into an opened, migrated, empty ``store``; return what it holds."""
    from web.auth.passwords import hash_password

    sqlite = store.is_sqlite
    rows = _Rows(clients, messages, seed, sqlite=sqlite)
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
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    store.queries.rebuild_index_counts()  # the rows above bypassed the store, which keeps these as it files
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
    workdir = Path(tempfile.mkdtemp(prefix="seed-viewer-"))
    dbname = None
    try:
        if pg:
            import psycopg

            dbname = f"seed_viewer_{int(time.time())}"
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{dbname}"')
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"
        else:
            url = f"sqlite:///{workdir / 'viewer.db'}"
        store = Store(url, workdir / "blobs")
        store.open(upgrade=True)
        try:
            yield store
        finally:
            store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if dbname is not None:
            import psycopg

            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def pages(seeded: Seeded, message_id: int = 1) -> list[str]:
    """The URLs to time: every index with every sort, a search, a second page's worth of filters; the dashboard, the
    message list (plain, by client, searched), a directory page of each kind (client 1 is the busiest), one message
    (``message_id``), the ingest log and the API's message list."""
    urls = ["/", "/codes", "/messages", "/messages?client=1", "/messages?q=offer", "/api/messages"]
    for index in ("clients", "contacts", "leads", "records", "users"):
        sorts = ("new", "name", "count", "last") if index == "leads" else ("name", "count", "last")
        urls += [f"/{index}?sort={s}" for s in sorts]
    urls += ["/clients?q=client%200042", "/clients?q=client4&sort=count", "/contacts?q=nowak&sort=last"]
    urls += ["/records?q=OP-12", "/leads?q=gmail&sort=count", "/users?q=team&sort=count"]
    urls += ["/clients/1", "/contacts/1", "/leads/1", "/records/1", f"/messages/{message_id}", "/inbound"]
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


def time_pages(
    store: Store, seeded: Seeded, *, rounds: int, users: tuple[str, ...] = ()
) -> list[tuple[str, str, float, float, float, int]]:
    """(user, url, least ms, p50 ms, p95 ms, status) for every page of ``pages`` as the admin and as an ``own`` user."""
    from starlette.testclient import TestClient

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.web.conftest import log_in
    from web.app import create_app

    app = create_app(store, secret_key="seed-viewer-" + "k" * 32)
    results = []
    for email in users or (seeded.admin, seeded.own_user):
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
