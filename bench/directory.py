"""Matching at scale: the linker's matching and ``apply_plan`` cost per message as the directory grows.

Each size gets a fresh database holding N clients (with a domain and an address each), N contacts, N leads and N
deal records, bulk-loaded. The same fixed message set (BCC, inline and attached forwards, 4-64 KiB; some to known
contacts, some to existing leads, some to unknown people who become leads, some with deal codes or replying to
earlier mail) is parsed once, untimed, then matched and applied against every size: parsing does not depend on
the directory, so what is timed is exactly the part that could. Sizes are interleaved in rounds, so a burst of
load from elsewhere hits every size alike.

It also counts SQL statements per message (they must not grow with the directory: no N+1) and prints the query
plan of every distinct lookup at the largest size, failing on a full scan of a directory or mail table.

Usage: ``python bench/directory.py [--pg] [--quick] [--sizes 1000,100000,1000000] [--messages N]``. ``--quick``
uses 1k and 20k and checks only the script's own sanity. The last line is the headline ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ASSISTANT, CODES, ORG_DOMAIN, check, machine, percentile, run_main, scratch_store
from _mail import Directory, Mail, Person, make_mail
from sqlalchemy import event, text

from linker.model import ParsedMessage
from linker.parse import parse_message
from linker.pipeline import Envelope, plan_message
from linker.settings import LinkerSettings
from linker.tasks import outcome_of
from store import InboundView, Store

#: Tables that grow with the business: a full scan of any of them in a lookup fails the run.
BIG_TABLES = (
    "clients",
    "client_domains",
    "client_emails",
    "contacts",
    "contact_emails",
    "leads",
    "records",
    "messages",
    "links",
    "participants",
    "inbound",
    "message_codes",
    "attachments",
)
USERS = 10
NOW = "2026-11-01 08:00:00"


def domain(i: int) -> str:
    return f"client{i}.example{i % 7}.pl"


def contact_address(i: int) -> str:
    return f"contact{i}@{domain(i)}"


def lead_address(i: int) -> str:
    return f"lead{i}@prospect{i}.example{i % 5}.ro"


def user_address(i: int) -> str:
    return f"user{i}@{ORG_DOMAIN}"


# --- bulk load ----------------------------------------------------------------------------------------------


def table_rows(n: int) -> dict[str, tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]]:
    """Column names and row generators for each table, in foreign-key order."""
    ids = range(1, n + 1)
    return {
        "users": (
            ("id", "email", "name", "role", "created_at", "updated_at"),
            ((u, user_address(u), f"User {u}", "all", NOW, NOW) for u in range(1, USERS + 1)),
        ),
        "user_addresses": (
            ("id", "user_id", "address", "is_primary"),
            ((u, u, user_address(u), True) for u in range(1, USERS + 1)),
        ),
        "clients": (("id", "name", "created_at", "updated_at"), ((i, f"Client {i}", NOW, NOW) for i in ids)),
        "client_domains": (("id", "client_id", "domain"), ((i, i, domain(i)) for i in ids)),
        "client_emails": (("id", "client_id", "address"), ((i, i, f"biuro@{domain(i)}") for i in ids)),
        "contacts": (
            ("id", "name", "client_id", "created_at", "updated_at"),
            ((i, f"Contact {i}", i, NOW, NOW) for i in ids),
        ),
        "contact_emails": (("id", "contact_id", "address"), ((i, i, contact_address(i)) for i in ids)),
        "leads": (
            ("id", "address", "name", "company", "owner_user_id", "created_at"),
            ((i, lead_address(i), f"Lead {i}", f"Prospect {i}", 1 + i % USERS, NOW) for i in ids),
        ),
        "records": (
            ("id", "code", "type", "title", "client_id", "created_at", "updated_at"),
            ((i, f"OP-{i}", "deal", f"Deal {i}", i, NOW, NOW) for i in ids),
        ),
    }


def load_sqlite(store: Store, n: int) -> None:
    """executemany over the driver connection, one transaction."""
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, (columns, rows) in table_rows(n).items():
            marks = ", ".join("?" * len(columns))
            cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        raw.commit()
    finally:
        raw.close()


def load_postgres(store: Store, n: int) -> None:
    """COPY per table, then ANALYZE (as autovacuum would soon after a real import)."""
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, (columns, rows) in table_rows(n).items():
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {max(n, USERS)})")
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


# --- the message set ----------------------------------------------------------------------------------------


def sample_directory(n: int, rng: random.Random) -> Directory:
    """The part of an N-row directory the messages talk to: users, 40 contacts spread over the whole id range
    (with their clients and deals), and 20 existing leads."""
    d = Directory(users=[Person(f"User {u}", user_address(u)) for u in range(1, USERS + 1)])
    picks = sorted(rng.sample(range(1, n + 1), 40))
    for k, i in enumerate(picks):
        d.clients.append((f"Client {i}", domain(i), f"biuro@{domain(i)}"))
        d.records.append((f"OP-{i}", k))
        d.contacts.append((Person(f"Contact {i}", contact_address(i)), k))
    for k, i in enumerate(sorted(rng.sample(range(1, n + 1), 20))):
        d.contacts.append((Person(f"Lead {i}", lead_address(i)), k))
    return d


@dataclass
class Size:
    """One directory size: its store, receipts and measurements."""

    n: int
    store: Store
    inbound: list[InboundView] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    #: Distinct statements seen (SQL text → one set of parameters), for the query plans.
    seen: dict[str, Any] = field(default_factory=dict)


class StatementCounter:
    """Counts cursor executions on an engine and remembers each distinct statement once."""

    def __init__(self, size: Size) -> None:
        self.size = size
        self.count = 0
        event.listen(size.store.engine, "before_cursor_execute", self._on)

    def close(self) -> None:
        """Stop counting (the benchmark's own queries are not the linker's)."""
        event.remove(self.size.store.engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        self.count += 1
        verb = statement.lstrip().split(None, 1)[0].upper()
        self.size.kinds[verb] += 1
        self.size.seen.setdefault(re.sub(r"(\?|%\(\w+\)s)(, (\?|%\(\w+\)s))+", "…", statement), (statement, parameters))


@contextlib.contextmanager
def database(n: int, *, pg: bool, workdir: Path) -> Iterator[Store]:
    """A fresh, migrated store holding an N-row directory; dropped afterwards."""
    with scratch_store(workdir / str(n), pg=pg) as store:
        (load_postgres if pg else load_sqlite)(store, n)
        yield store


def link_one(
    size: Size, counter: StatementCounter, inbound: InboundView, parsed: ParsedMessage, settings: LinkerSettings
) -> None:
    """Match and apply one parsed message, timed and counted."""
    before = counter.count
    start = time.perf_counter()
    envelope = Envelope(inbound.mail_from, inbound.rcpt_tos)
    with size.store.reading():  # as the actor does: one connection for the message's lookups
        plan = plan_message(parsed, envelope=envelope, settings=settings, directory=size.store.directory)
    outcome = outcome_of(plan, inbound)
    check(outcome.write is not None and outcome.status == "linked", f"{inbound.id}: {outcome.status} {outcome.reason}")
    assert outcome.write is not None
    result = size.store.filing.apply_plan(inbound.id, outcome.write)
    size.seconds.append(time.perf_counter() - start)
    size.statements.append(counter.count - before)
    check(result.applied, f"{inbound.id} was not applied")


# --- query plans --------------------------------------------------------------------------------------------


def plans(size: Size, *, pg: bool) -> list[tuple[str, list[str]]]:
    """The plan of each distinct SELECT and UPDATE seen (SQL shortened, plan lines)."""
    out = []
    raw = size.store.engine.raw_connection()
    try:
        cur = raw.cursor()
        if pg:
            # Mail tables are small in this run, and PostgreSQL rightly reads a small table whole. With sequential
            # scans priced out, a Seq Scan left in a plan means there is no index it could use.
            cur.execute("SET enable_seqscan = off")
        for short, (statement, params) in sorted(size.seen.items()):
            verb = statement.lstrip().split(None, 1)[0].upper()
            if verb not in ("SELECT", "UPDATE"):
                continue
            if pg:
                cur.execute("EXPLAIN " + statement, params)
                lines = [row[0] for row in cur.fetchall()]
            else:
                cur.execute("EXPLAIN QUERY PLAN " + statement, params)
                lines = [row[-1] for row in cur.fetchall()]
            out.append((" ".join(short.split())[:150], lines))
        raw.rollback()
    finally:
        raw.close()
    return out


def full_scans(lines: list[str], *, pg: bool) -> list[str]:
    """Plan lines that read a whole big table."""
    bad = []
    for line in lines:
        for table in BIG_TABLES:
            if pg and re.search(rf"Seq Scan on {table}\b", line):
                bad.append(line.strip())
            # "SCAN t" reads every row; "SCAN t USING INDEX" every index entry: both grow with the table.
            if not pg and re.match(rf"\s*SCAN {table}\b", line):
                bad.append(line.strip())
    return bad


# --- main ---------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    """The command line, with ``sizes`` and ``messages`` filled in from ``--quick`` when not given."""
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--quick", action="store_true", help="1k and 20k rows, fewer messages: checks the script")
    options.add_argument("--pg", action="store_true", help="PostgreSQL on 127.0.0.1:5432 instead of SQLite")
    options.add_argument("--sizes", help="comma-separated directory sizes (default 1000,100000,1000000)")
    options.add_argument("--messages", type=int, help="messages in the fixed set (default 240, quick 60)")
    options.add_argument("--rounds", type=int, default=4, help="interleaved rounds (the set is split between them)")
    args = options.parse_args()
    args.sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else [1_000, 20_000]
        if args.quick
        else [1_000, 100_000, 1_000_000]
    )
    args.messages = args.messages or (60 if args.quick else 240)
    return args


def main() -> int:
    args = parse_args()
    sizes, count = args.sizes, args.messages
    backend = "PostgreSQL" if args.pg else "SQLite"
    print(f"machine: {machine()}")
    print(f"directory: {backend}, sizes {', '.join(f'{n:,}' for n in sizes)} (each: clients, contacts, leads, records)")

    mails = make_mail(sample_directory(min(sizes), random.Random(5)), count, seed=11)
    parsed = [parse_message(m.raw) for m in mails]
    kinds = Counter(m.kind for m in mails)
    print(f"messages: {count} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), parsed once, untimed")

    workdir = Path(tempfile.mkdtemp(prefix="mailassist-bench-dir-"))
    try:
        with contextlib.ExitStack() as stack:
            measured = [load_size(stack, n, mails, pg=args.pg, workdir=workdir) for n in sizes]
            link_all(measured, parsed, max(1, args.rounds))
            report(measured, pg=args.pg)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def load_size(stack: contextlib.ExitStack, n: int, mails: list[Mail], *, pg: bool, workdir: Path) -> Size:
    """A store of size ``n`` (closed with ``stack``) holding ``mails`` as receipts, not yet linked."""
    start = time.perf_counter()
    store = stack.enter_context(database(n, pg=pg, workdir=workdir))
    size = Size(n, store)
    size.inbound = [store.receipts.add_inbound(m.raw, mail_from=m.mail_from, rcpt_tos=[ASSISTANT]) for m in mails]
    print(f"  loaded {n:>9,} rows per table in {time.perf_counter() - start:5.1f} s")
    return size


def link_all(measured: list[Size], parsed: list[ParsedMessage], rounds: int) -> None:
    """Link every message at every size, in ``rounds`` interleaved rounds, counting statements."""
    settings = LinkerSettings.build(assistant_addresses=[ASSISTANT], organization_domains=[ORG_DOMAIN], codes=CODES)
    counters = [StatementCounter(size) for size in measured]
    for r in range(rounds):
        for size, counter in zip(measured, counters, strict=True):
            for k in range(r, len(parsed), rounds):
                link_one(size, counter, size.inbound[k], parsed[k], settings)
    for counter in counters:
        counter.close()


def report(measured: list[Size], *, pg: bool) -> None:
    """Print per-size costs, statement counts and the largest size's plans; check the sanity conditions."""
    print(f"\n{'rows':>10}  {'mean ms':>8}  {'p50 ms':>7}  {'p99 ms':>7}  {'SQL/msg':>7}  statements by verb")
    for s in measured:
        mean = sum(s.seconds) / len(s.seconds) * 1000
        verbs = ", ".join(f"{k} {v / len(s.seconds):.1f}" for k, v in sorted(s.kinds.items()))
        print(
            f"{s.n:>10,}  {mean:8.2f}  {percentile(s.seconds, 50) * 1000:7.2f}  {percentile(s.seconds, 99) * 1000:7.2f}"
            f"  {sum(s.statements) / len(s.statements):7.1f}  {verbs}"
        )
    first, last = measured[0], measured[-1]
    # The same messages against the same kind of data: every message must cost the same statements at every size.
    check(
        first.statements == last.statements,
        f"SQL statements per message differ between {first.n:,} and {last.n:,} rows (N+1?): "
        f"{sum(first.statements)} vs {sum(last.statements)}",
    )
    with last.store.engine.connect() as conn:
        linked = conn.execute(text("SELECT count(*) FROM inbound WHERE status = 'linked'")).scalar_one()
        messages = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
    check(linked == len(last.inbound), f"{linked} of {len(last.inbound)} receipts linked")
    check(messages == len(last.inbound), f"{messages} messages filed for {len(last.inbound)} receipts")

    how = "EXPLAIN with enable_seqscan off" if pg else "EXPLAIN QUERY PLAN"
    print(f"\nquery plans at {last.n:,} rows ({how}):")
    scans: list[str] = []
    for short, lines in plans(last, pg=pg):
        print(f"  {short}")
        for line in lines:
            print(f"      {line}")
        scans += full_scans(lines, pg=pg)
    check(not scans, f"full scans of big tables: {scans}")
    print("no full scans of directory or mail tables; statements per message equal at every size")

    ratio = (sum(last.seconds) / len(last.seconds)) / (sum(first.seconds) / len(first.seconds))
    median_ratio = percentile(last.seconds, 50) / percentile(first.seconds, 50)
    print(f"\np50 ratio {last.n:,}/{first.n:,} = {median_ratio:.2f}")
    print(f"headline: link cost per message {last.n:,}/{first.n:,} rows = {ratio:.2f}x (goal <= 1.2x, flat)")


if __name__ == "__main__":
    run_main(main)
