"""Codes filed late (issue 16.6): a records import relinks its unresolved mail in bounded time, whatever the history.

Each size gets a fresh database holding H filed messages (a receipt, a submitter link, an external participant that
matched nothing, and one record code no record had when the mail arrived), bulk-loaded. Then N records are imported
(``Store.directory.apply_records``, as ``mailassist import records`` does) whose codes appear in K messages each,
and the import's relink runs (``Store.filing.relink`` with the import's scope, batches of ``store.relink.BATCH``
rows, a progress bar on a terminal). The N x K affected messages are the same at every size; only the history around
them grows. So the baseline is the smallest history, in the same run, and the headline is the relink time at the
largest size over it: flat (about 1x) means the cost follows what the import changed, not the size of the history. A
whole relink (``mailassist reprocess --relink``, no scope) is timed afterwards, for comparison.

Reported per size: relink seconds, affected messages per second, transactions (batches), and the peak resident
memory above the level before the relink (sampled every 5 ms from ``/proc``).

Usage: ``python bench/relink.py [--quick] [--sizes 20000,100000] [--records N] [--per-code K] [--no-pg]``.
PostgreSQL (127.0.0.1:5432, trust auth) is measured too when it answers; skipped with a message when it does not.
``--quick`` uses 2k and 10k messages and 50 records, and checks only the script's own sanity.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import click
from _common import PeakSampler, check, machine, postgres_version, run_main, scratch_store
from sqlalchemy import func, insert, select, text

from mailassist import importer
from store import Store
from store.models import Inbound, Link, Message, MessageCode, Participant, User, UserAddress
from store.relink import BATCH
from store.shapes import RecordRow

#: Rows per bulk INSERT while seeding.
SEED_CHUNK = 5000
#: Codes of mail that no import resolves: far above the imported ones.
UNRELATED = 1_000_000


@dataclass
class Result:
    backend: str
    history: int
    affected: int
    seconds: float
    batches: int
    peak_rss: int
    whole_seconds: float
    bar_total: int


def rss() -> int:
    """Resident memory of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> PeakSampler:
    """Resident memory sampled every 5 ms while in use; ``peak`` is the highest above the level at the start."""
    start = rss()
    return PeakSampler(lambda: rss() - start, 0.005)


def code_of(i: int, records: int, per_code: int) -> str:
    """Message ``i``'s code: one of the imported records' for the first ``records * per_code`` messages."""
    return f"OP-{i % records + 1}" if i < records * per_code else f"OP-{UNRELATED + i}"


def seed(store: Store, history: int, records: int, per_code: int) -> None:
    """``history`` filed messages, each with a receipt, a submitter link, an unmatched participant and a code."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(insert(User), [{"id": 1, "email": "anna@example.com", "name": "Anna", "role": "all"}])
        conn.execute(insert(UserAddress), [{"user_id": 1, "address": "anna@example.com", "is_primary": True}])
    for start in range(0, history, SEED_CHUNK):
        ids = range(start + 1, min(history, start + SEED_CHUNK) + 1)
        when = [now - timedelta(minutes=i) for i in ids]
        with store.engine.begin() as conn:
            for table, rows in seed_rows(ids, when, records, per_code):
                conn.execute(insert(table), rows)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def seed_rows(
    ids: range, when: list[datetime], records: int, per_code: int
) -> list[tuple[type[Any], list[dict[str, Any]]]]:
    """One chunk of messages ``ids`` sent at ``when``: the rows of each table, in foreign-key order."""
    sent = list(zip(ids, when, strict=True))
    return [
        (Message, [_message_row(i, w, code_of(i - 1, records, per_code)) for i, w in sent]),
        (Inbound, [_inbound_row(i, w) for i, w in sent]),
        (Participant, [row for i in ids for row in _participant_rows(i)]),
        (MessageCode, [{"message_id": i, "code": code_of(i - 1, records, per_code)} for i in ids]),
        (
            Link,
            [
                {"message_id": i, "entity_type": "user", "entity_id": 1, "reason": "submitter", "created_at": w}
                for i, w in sent
            ],
        ),
    ]


def _message_row(i: int, w: datetime, code: str) -> dict[str, Any]:
    return {
        "id": i,
        "dedupe_key": f"mid:<{i}@bench>",
        "message_id_header": f"<{i}@bench>",
        "subject": f"Offer {code}",
        "date": w,
        "from_address": "anna@example.com",
        "direction": "outgoing",
        "kind": "bcc",
        "submitter_user_id": 1,
        "body_text": "Dear client, please find our offer attached.",
        "raw_sha256": f"{i:064x}",
        "created_at": w,
    }


def _inbound_row(i: int, w: datetime) -> dict[str, Any]:
    return {
        "id": f"bench{i:012d}",
        "received_at": w,
        "mail_from": "anna@example.com",
        "rcpt_tos": ["assistant@crm.example.com"],
        "size": 4096,
        "sha256": f"{i:064x}",
        "status": "linked",
        "attempts": 1,
        "message_id": i,
        "updated_at": w,
        "processed_at": w,
    }


def _participant_rows(i: int) -> tuple[dict[str, Any], ...]:
    return (
        {"message_id": i, "role": "from", "address": "anna@example.com", "internal": True},
        # No lead: an automated address, or one an ignore rule covered
        {"message_id": i, "role": "to", "address": f"noreply{i % 997}@vendor{i % 89}.test", "internal": False},
    )


@contextlib.contextmanager
def database(history: int, *, pg: bool, workdir: Path) -> Iterator[Store]:
    """A fresh, migrated store; dropped afterwards."""
    with scratch_store(workdir / f"relink_{history}_{uuid.uuid4().hex[:8]}", pg=pg) as store:
        yield store


def measure(backend: str, history: int, records: int, per_code: int, *, pg: bool, workdir: Path) -> Result:
    with database(history, pg=pg, workdir=workdir) as store:
        started = time.perf_counter()
        seed(store, history, records, per_code)
        print(f"  {backend}: seeded {history:>7,} messages in {time.perf_counter() - started:5.1f} s", flush=True)
        rows = [RecordRow(line=i + 2, code=f"OP-{i + 1}", type="deal", title=f"Deal {i + 1}") for i in range(records)]
        imported = store.directory.apply_records(rows)
        check(imported.created == records, f"{imported.created} of {records} records created")

        # What `mailassist import records` does next: relink the import's scope, with a progress bar
        scope = importer.relink_scope(rows)
        total = store.filing.count_relink(scope)
        batches = 0

        def tick(rows_done: int) -> None:
            nonlocal batches
            batches += 1
            bar.update(rows_done)

        shown = sys.stderr.isatty()
        with (
            peak_rss() as memory,
            click.progressbar(length=total, label="  relink", file=sys.stderr, hidden=not shown) as bar,
        ):
            started = time.perf_counter()
            result = store.filing.relink(scope, free_mail_domains=(), progress=tick)
            seconds = time.perf_counter() - started
        affected = records * per_code
        check(result.codes_resolved == affected, f"{result.codes_resolved} of {affected} codes resolved")
        check(result.record_links == affected, f"{result.record_links} of {affected} record links added")
        check(total == affected, f"the progress bar's length is {total}, not {affected}")

        started = time.perf_counter()
        whole = store.filing.relink(free_mail_domains=())
        whole_seconds = time.perf_counter() - started
        check(whole.links_added == 0, f"a whole relink after the import still added {whole.links_added} links")
        with store.engine.connect() as conn:
            unresolved = conn.scalar(select(func.count()).where(MessageCode.record_id.is_(None)))
            code_links = conn.scalar(select(func.count()).where(Link.reason == "code"))
        check(unresolved == history - affected, f"{unresolved} codes unresolved, not {history - affected}")
        check(code_links == affected, f"{code_links} code links, not {affected}")
        return Result(backend, history, affected, seconds, batches, memory.peak, whole_seconds, total)


def parse_args() -> argparse.Namespace:
    """The command line, with ``sizes`` and ``records`` filled in from ``--quick`` when not given."""
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--quick", action="store_true", help="2k and 10k messages, 50 records: checks the script")
    options.add_argument("--sizes", help="comma-separated history sizes (default 20000,100000)")
    options.add_argument("--records", type=int, help="records imported (default 500, quick 50)")
    options.add_argument("--per-code", type=int, default=10, help="messages naming each imported code (default 10)")
    options.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = options.parse_args()
    args.sizes = (
        [int(s) for s in args.sizes.split(",")] if args.sizes else [2_000, 10_000] if args.quick else [20_000, 100_000]
    )
    args.records = args.records or (50 if args.quick else 500)
    return args


def backends(no_pg: bool) -> list[tuple[str, bool]]:
    """(name, is PostgreSQL) of each backend to measure: SQLite, and PostgreSQL unless skipped or unreachable."""
    found = [("SQLite", False)]
    if no_pg:
        print("PostgreSQL: skipped (--no-pg)")
    elif postgres_version() is None:
        print("PostgreSQL: not reachable on 127.0.0.1:5432 as postgres (trust auth); skipped")
    else:
        found.append(("PostgreSQL", True))
    return found


def main() -> int:
    args = parse_args()
    sizes, records = args.sizes, args.records
    check(records * args.per_code <= min(sizes), "more affected messages than the smallest history holds")
    print(f"machine: {machine()}")
    print(
        f"history: {', '.join(f'{n:,}' for n in sizes)} filed messages, each with an unresolved code; import {records} "
        f"records named by {args.per_code} messages each ({records * args.per_code:,} affected); batches of {BATCH}"
    )
    measured = backends(args.no_pg)
    print(f"peak RSS of the process before: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    workdir = Path(tempfile.mkdtemp(prefix="mailassist-bench-relink-"))
    results: list[Result] = []
    try:
        for backend, pg in measured:
            for history in sizes:
                results.append(measure(backend, history, records, args.per_code, pg=pg, workdir=workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, [backend for backend, _ in measured], sizes)
    return 0


def report(results: list[Result], names: list[str], sizes: list[int]) -> None:
    """The table of every run, then the headline: the largest history's relink time over the smallest's."""
    print(
        f"\n{'backend':<10}  {'history':>8}  {'affected':>8}  {'relink s':>8}  {'msgs/s':>8}  {'batches':>7}  "
        f"{'peak RSS +MiB':>13}  {'whole relink s':>14}  ratio"
    )
    headline: list[str] = []
    for backend in names:
        rows = [r for r in results if r.backend == backend]
        base = rows[0]
        for r in rows:
            print(
                f"{r.backend:<10}  {r.history:>8,}  {r.affected:>8,}  {r.seconds:8.2f}  {r.affected / r.seconds:8.0f}  "
                f"{r.batches:>7}  {r.peak_rss / 2**20:13.1f}  {r.whole_seconds:14.2f}  {r.seconds / base.seconds:5.2f}x"
            )
        last = rows[-1]
        headline.append(f"{backend} {last.seconds / base.seconds:.2f}x")
    largest, smallest = sizes[-1], sizes[0]
    print(
        f"\nheadline: records-import relink time, {largest:,}/{smallest:,} messages of history = {', '.join(headline)}"
    )


if __name__ == "__main__":
    run_main(main)
