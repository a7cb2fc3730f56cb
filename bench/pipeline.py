"""The whole pipeline, from the first SMTP byte to ``linked``: sustained msg/s, and accept → linked latency.

Realistic mixed mail (BCC, inline and attached forwards, 4-64 KiB, HTML alternatives and attachments; some to
unknown people who become leads, some with deal codes, some replies) goes over SMTP to real ``mailassist``
processes, with the directory imported through ``mailassist import``:

* ``embedded``: ``mailassist serve`` (SQLite, in-process queue and worker);
* ``embedded-2p``: the same with ``queue.worker_processes = 2``: linking in two child processes (one per core);
* ``pg+redis 1w`` / ``2w``: ``mailassist smtp`` and one or two ``mailassist worker`` processes on PostgreSQL
  (a fresh database per run) and Redis (database ``--redis-db``, 13 by default, flushed before and after).

Per mode: first a burst sent as fast as the server takes it, over ``--sessions`` reused connections; the
sustained rate is messages / (last ``processed_at`` - first byte). Then, once that backlog is linked, messages
paced open-loop at half that rate, and the p50/p99 of accept → linked (``processed_at - received_at`` in the
database) and of first byte → linked.

The baseline, in the same run: the bare work per message in this one process, with no SMTP, queue or second
process: ``Store.receipts.add_inbound`` then the actor's ``Processor.process`` (parse, plan, apply; built by
``mailassist.build.make_processor``) on a SQLite file, one message after the other. Ratios above 1 mean the
server overlaps work (two cores, several processes).

Usage: ``python bench/pipeline.py [--quick] [--modes embedded,embedded-2p,pg1,pg2] [--messages N] [--seconds S]
[--worker-processes N]``; the default modes leave ``pg1`` out (the run stays under two minutes).
The last line is the headline.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ASSISTANT,
    check,
    config_sections,
    free_port,
    machine,
    percentile,
    pg_database,
    run_main,
    write_config,
)
from _load import Process, Sent, blast, paced, run_cli, running
from _mail import Directory, Mail, make_directory, make_mail
from sqlalchemy import Engine, create_engine, text

#: Per mode: ``mailassist worker`` commands (0: ``serve``, embedded) and ``queue.worker_processes``.
MODES = {"embedded": (0, 0), "embedded-2p": (0, 2), "pg1": (1, 0), "pg2": (2, 0)}
DEFAULT_MODES = ["embedded", "embedded-2p", "pg2"]
LABELS = {
    "embedded": "embedded (serve, SQLite)",
    "embedded-2p": "embedded, 2 linker processes",
    "pg1": "smtp + 1 worker (PG, Redis)",
    "pg2": "smtp + 2 workers (PG, Redis)",
}


@dataclass
class Result:
    mode: str
    sustained: float
    intake: float
    half_rate: float
    achieved: float
    accept_p50: float
    accept_p99: float
    byte_p50: float
    byte_p99: float
    #: CPU time of the mailassist processes per message during the burst (PostgreSQL's and Redis's not counted).
    cpu_ms: float


class Mode(NamedTuple):
    """A mode's servers, started: the SMTP port, the store's engine, and the ``mailassist`` processes."""

    port: int
    engine: Engine
    servers: list[Process]


# --- the baseline -------------------------------------------------------------------------------------------


def baseline(directory: Directory, mails: Sequence[Mail], workdir: Path) -> tuple[float, float]:
    """Messages per second of ``add_inbound`` + ``Processor.process`` in this process, on SQLite; CPU ms/msg."""
    from mailassist.build import make_processor
    from mailassist.config import load_config
    from store import Store

    folder = workdir / "baseline"
    folder.mkdir(parents=True)
    config_path = write_config(
        folder / "mailassist.toml",
        config_sections(
            smtp_port=free_port(),
            web_port=free_port(),
            store_url=f"sqlite:///{folder}/mailassist.db",
            blob_dir=folder / "blobs",
            broker="memory",
        ),
    )
    import_directory(config_path, directory, folder)
    store = Store(f"sqlite:///{folder}/mailassist.db", folder / "blobs")
    store.open()
    try:
        processor = make_processor(load_config(config_path), store)  # what the actor runs
        start, cpu = time.perf_counter(), time.process_time()
        for mail in mails:
            inbound = store.receipts.add_inbound(mail.raw, mail_from=mail.mail_from, rcpt_tos=[ASSISTANT])
            processor.process(inbound.id)
        seconds = time.perf_counter() - start
        cpu_ms = (time.process_time() - cpu) / len(mails) * 1000
        counts = store.receipts.count_inbound_by_status()
    finally:
        store.close()
    check(counts["linked"] == len(mails), f"baseline: {counts} for {len(mails)} messages")
    return len(mails) / seconds, cpu_ms


# --- setup --------------------------------------------------------------------------------------------------


def import_directory(config: Path, directory: Directory, folder: Path) -> None:
    """``mailassist import`` each CSV, as an administrator would: users, clients, then contacts and records at once
    (both need only the clients; each command spends ~2 s starting up, a third of this script's setup)."""
    csvs = directory.write_csvs(folder / "csv")
    run_cli(config, "import", "users", str(csvs["users"]))  # the first command also creates the SQLite schema
    run_cli(config, "import", "clients", str(csvs["clients"]))
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(run_cli, config, "import", kind, str(csvs[kind])) for kind in ("contacts", "records")]:
            done.result()


@contextmanager
def redis_db(index: int) -> Iterator[str]:
    """A Redis URL on database ``index``, flushed before and after (never any other database)."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=index, socket_timeout=5)
    client.flushdb()
    try:
        yield f"redis://127.0.0.1:6379/{index}"
    finally:
        client.flushdb()
        client.close()


# --- one mode -----------------------------------------------------------------------------------------------


def wait_linked(engine: Engine, ids: set[str], timeout: float) -> dict[str, tuple[str, float, float]]:
    """Poll until no receipt of ``ids`` is ``queued``; their (status, received_at, processed_at) as epoch seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            queued = conn.execute(text("SELECT count(*) FROM inbound WHERE status = 'queued'")).scalar_one()
        if queued == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    rows = {}
    with engine.connect() as conn:
        for rid, status, received, processed in conn.execute(
            text("SELECT id, status, received_at, processed_at FROM inbound")
        ):
            if rid in ids:
                rows[rid] = (status, _epoch(received), _epoch(processed) if processed else float("nan"))
    return rows


def _epoch(value: object) -> float:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def settle(engine: Engine, sent: list[Sent], what: str, timeout: float) -> dict[str, tuple[str, float, float]]:
    """Check every message got 250 and ended ``linked``; return the receipts."""
    codes = Counter(s.code for s in sent)
    check(codes == Counter({250: len(sent)}), f"{what}: SMTP replies {dict(codes)}")
    ids = {s.queued_id for s in sent if s.queued_id}
    check(len(ids) == len(sent), f"{what}: {len(ids)} receipt ids for {len(sent)} messages")
    rows = wait_linked(engine, ids, timeout)
    statuses = Counter(status for status, _r, _p in rows.values())
    check(statuses == Counter({"linked": len(sent)}), f"{what}: statuses {dict(statuses)} for {len(sent)} messages")
    return rows


def start_mode(mode: str, directory: Directory, args: argparse.Namespace, folder: Path, stack: ExitStack) -> Mode:
    """The config of ``mode`` (a fresh PostgreSQL database and Redis for the worker modes), the directory imported,
    and its ``mailassist`` processes started; all stopped and dropped with ``stack``."""
    workers, processes = MODES[mode]
    if workers == 0:
        url, broker = f"sqlite:///{folder}/mailassist.db", "memory"
    else:
        url = stack.enter_context(pg_database())
        broker = stack.enter_context(redis_db(args.redis_db))
    port = free_port()
    sections = config_sections(
        smtp_port=port, web_port=free_port(), store_url=url, blob_dir=folder / "blobs", broker=broker
    )
    if args.worker_threads:
        sections["queue"]["worker_threads"] = args.worker_threads
    processes = args.worker_processes if args.worker_processes is not None else processes
    if processes:
        sections["queue"]["worker_processes"] = processes
    config = write_config(folder / "mailassist.toml", sections)
    if workers:
        run_cli(config, "db", "upgrade")
    import_directory(config, directory, folder)
    if workers == 0:
        servers = [stack.enter_context(running(config, "serve", folder / "serve.log"))]
    else:
        servers = [stack.enter_context(running(config, "smtp", folder / "smtp.log"))]
        for w in range(workers):
            servers.append(stack.enter_context(running(config, "worker", folder / f"worker{w}.log")))
    engine = create_engine(url)
    stack.callback(engine.dispose)
    return Mode(port, engine, servers)


def run_mode(
    mode: str, directory: Directory, burst: list[Mail], calm: list[Mail], args: argparse.Namespace, workdir: Path
) -> Result:
    """Start the servers of ``mode``, import the directory, and measure the burst, then the half-rate run."""
    folder = workdir / mode
    folder.mkdir()
    with ExitStack() as stack:
        port, engine, servers = start_mode(mode, directory, args, folder, stack)

        cpu = sum(p.cpu_seconds() for p in servers)
        sent = blast(port, burst, sessions=args.sessions)
        rows = settle(engine, sent, f"{mode} burst", timeout=args.timeout)
        cpu_ms = (sum(p.cpu_seconds() for p in servers) - cpu) / len(sent) * 1000
        first = min(s.first_byte for s in sent)
        last_reply = max(s.replied for s in sent)
        last_linked = max(p for _s, _r, p in rows.values())
        sustained = len(sent) / (last_linked - first)
        intake = len(sent) / (last_reply - first)

        rate = max(1.0, sustained / 2)
        count = max(10, min(len(calm), int(rate * args.seconds)))
        sent = paced(port, calm[:count], rate=rate, sessions=args.sessions)
        rows = settle(engine, sent, f"{mode} half rate", timeout=args.timeout)
        span = max(s.first_byte for s in sent) - min(s.first_byte for s in sent)
        by_id = {s.queued_id: s for s in sent}
        accept = [p - r for _s, r, p in rows.values()]
        from_byte = [p - by_id[i].first_byte for i, (_s, _r, p) in rows.items()]
        return Result(
            mode,
            sustained,
            intake,
            rate,
            (len(sent) - 1) / span if span > 0 else float("nan"),
            percentile(accept, 50),
            percentile(accept, 99),
            percentile(from_byte, 50),
            percentile(from_byte, 99),
            cpu_ms,
        )


# --- main ---------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    """The command line, with ``modes``, ``messages`` and ``seconds`` filled in from ``--quick`` when not given."""
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--quick", action="store_true", help="few messages: checks the script")
    options.add_argument("--modes", help=f"comma-separated, of {', '.join(MODES)} (default {','.join(DEFAULT_MODES)})")
    options.add_argument("--messages", type=int, help="messages in the burst (default 600, quick 60)")
    options.add_argument("--seconds", type=float, help="length of the half-rate run (default 5, quick 1)")
    options.add_argument("--sessions", type=int, default=20, help="concurrent SMTP sessions (default 20)")
    options.add_argument("--worker-threads", type=int, help="queue.worker_threads (default: the config default)")
    options.add_argument("--worker-processes", type=int, help="queue.worker_processes, all modes")
    options.add_argument("--redis-db", type=int, default=13, help="Redis database to use and flush (default 13)")
    options.add_argument("--timeout", type=float, default=120, help="seconds to wait for a backlog to be linked")
    args = options.parse_args()
    args.modes = args.modes.split(",") if args.modes else DEFAULT_MODES
    for mode in args.modes:
        if mode not in MODES:
            options.error(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    args.messages = args.messages or (60 if args.quick else 600)
    args.seconds = args.seconds or (1.0 if args.quick else 5.0)
    return args


def main() -> int:
    args = parse_args()
    count = args.messages

    from mailassist.logs import configure_logging

    configure_logging("warning", "text")  # the baseline runs the actor here: no line per message
    print(f"machine: {machine()}")
    directory = make_directory(users=10, clients=200, contacts_per_client=3)
    burst = make_mail(directory, count, seed=21)
    calm = make_mail(directory, max(60, count), seed=22)
    sizes = sorted(len(m.raw) for m in burst)
    kinds = Counter(m.kind for m in burst)
    print(
        f"mail: {count} per burst ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), "
        f"{sizes[0] / 1024:.1f}-{sizes[-1] / 1024:.1f} KiB, median {percentile(sizes, 50) / 1024:.1f} KiB; "
        f"directory {len(directory.users)} users, {len(directory.clients)} clients, {len(directory.contacts)} contacts"
    )
    workdir = Path(tempfile.mkdtemp(prefix="mailassist-bench-pipeline-"))
    try:
        base, base_cpu = baseline(directory, burst[: min(len(burst), 200)], workdir)
        print(
            "baseline: add_inbound + Processor.process in one thread, SQLite: "
            f"{base:.0f} msg/s, CPU {base_cpu:.1f} ms/msg"
        )
        results = [report_mode(run_mode(mode, directory, burst, calm, args, workdir), base) for mode in args.modes]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    best = max(results, key=lambda r: r.sustained)
    embedded = next((r for r in results if r.mode == "embedded"), results[0])
    print(
        f"headline: {embedded.mode} sustained/baseline = {embedded.sustained / base:.2f}x; best {best.mode} "
        f"{best.sustained:.0f} msg/s (goal >= 200) = {best.sustained / base:.2f}x baseline, p99 accept->linked "
        f"{best.accept_p99:.2f} s at half rate (goal < 1 s)"
    )
    return 0


def report_mode(result: Result, base: float) -> Result:
    """Print one mode's two lines, as soon as it is measured; returns ``result``."""
    print(
        f"  {LABELS[result.mode]:30} sustained {result.sustained:6.1f} msg/s ({result.sustained / base:.2f}x baseline)"
        f"  intake {result.intake:6.1f} msg/s  CPU {result.cpu_ms:5.1f} ms/msg"
    )
    print(
        f"  {'':30} at {result.half_rate:5.1f} msg/s (sent {result.achieved:5.1f}): accept->linked "
        f"p50 {result.accept_p50 * 1000:6.0f} ms p99 {result.accept_p99 * 1000:6.0f} ms; "
        f"first byte->linked p50 {result.byte_p50 * 1000:6.0f} ms p99 {result.byte_p99 * 1000:6.0f} ms"
    )
    return result


if __name__ == "__main__":
    run_main(main)
