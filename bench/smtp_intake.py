"""Benchmark 1, SMTP intake: msg/s and DATA-end → 250 latency of ``mailassist smtp`` (SQLite, PostgreSQL) against
a bare aiosmtpd server that stores nothing, all in child processes, driven by one asyncio load generator.

    .venv/bin/python bench/smtp_intake.py            # full run, under 2 minutes
    .venv/bin/python bench/smtp_intake.py --quick    # CI: small counts; asserts only that every message got
                                                     # 250 and is in the database, never timings

The last line is the headline ratio: mailassist on SQLite over bare aiosmtpd at 20 sessions, one message per
connection.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_seconds
from _smtp import LoadResult, bare_server, mailassist_smtp, make_message, run_load, stored_ids, tempdir

#: Size of every message, as the issue asks.
MESSAGE_SIZE = 4096
#: (concurrent sessions, messages per connection) for each scenario; "reuse" keeps one connection per session.
SESSIONS = (1, 20, 100)
REUSE = 100
#: Messages per scenario by session count: full run, and --quick.
FULL_COUNTS = {1: 200, 20: 1000, 100: 1000}
QUICK_COUNTS = {1: 10, 20: 40, 100: 100}
WARMUP = 50
HEADLINE = (20, 1)


def scenarios() -> list[tuple[int, int]]:
    return [(s, per_conn) for s in SESSIONS for per_conn in (1, REUSE)]


async def measure(port: int, pid: int, counts: dict[int, int], tag: str) -> dict[tuple[int, int], LoadResult]:
    """Warm up, then run every scenario against one server (process ``pid``, whose CPU time each one records)."""
    await run_load(
        port, [make_message(i, MESSAGE_SIZE, tag=f"{tag}-warm") for i in range(WARMUP)], sessions=5, per_conn=1
    )
    results = {}
    for sessions, per_conn in scenarios():
        messages = [make_message(i, MESSAGE_SIZE, tag=f"{tag}-{sessions}-{per_conn}") for i in range(counts[sessions])]
        before = cpu_seconds(pid)
        result = await run_load(port, messages, sessions=sessions, per_conn=per_conn)
        result.cpu_ms = (cpu_seconds(pid) - before) / max(1, result.accepted) * 1000
        results[sessions, per_conn] = result
    return results


def check(name: str, results: dict[tuple[int, int], LoadResult], counts: dict[int, int], ids: set[str] | None) -> None:
    """Sanity only: every message got 250, and (for mailassist) each queued id is a row."""
    for (sessions, per_conn), r in results.items():
        if r.accepted != counts[sessions]:
            raise SystemExit(
                f"{name} {sessions} sessions, {per_conn}/conn: {r.accepted}/{counts[sessions]} got 250; "
                f"first errors: {r.errors[:3]}"
            )
        if ids is not None:
            missing = [i for i in r.queued_ids if i not in ids]
            if len(r.queued_ids) != r.accepted or missing:
                raise SystemExit(f"{name}: {len(missing)} accepted messages are not in the database: {missing[:3]}")


def report(name: str, r: LoadResult) -> None:
    conn = "1 msg/conn" if r.per_conn == 1 else f"{r.per_conn} msg/conn"
    print(
        f"{name:<8} {r.sessions:>3} sessions  {conn:<13} {r.rate:>7.0f} msg/s   "
        f"p50 {r.percentile(50):>6.1f} ms   p99 {r.percentile(99):>6.1f} ms   server CPU {r.cpu_ms:5.2f} ms/msg",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, for CI: checks only that it works")
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="comma-separated subset of sqlite,postgres (default both)"
    )
    parser.add_argument("--log-level", default="info", help="the gateway's logging.level (default info)")
    args = parser.parse_args()
    counts = QUICK_COUNTS if args.quick else FULL_COUNTS
    backends = [b for b in args.backends.split(",") if b]
    all_results: dict[str, dict[tuple[int, int], LoadResult]] = {}

    with tempdir("bench-intake-") as tmp:
        work = Path(tmp)
        (work / "bare").mkdir()
        with bare_server(work / "bare") as bare:
            all_results["bare"] = asyncio.run(measure(bare.port, bare.proc.pid, counts, "bare"))
        check("bare", all_results["bare"], counts, None)
        for r in all_results["bare"].values():
            report("bare", r)
        for backend in backends:
            where = work / backend
            where.mkdir()
            with mailassist_smtp(where, backend, log_level=args.log_level) as gw:
                all_results[backend] = asyncio.run(measure(gw.port, gw.proc.pid, counts, backend))
                ids = stored_ids(gw.store_url)
            check(backend, all_results[backend], counts, ids)
            for r in all_results[backend].values():
                report(backend, r)

    print()
    for sessions, per_conn in scenarios():
        base = all_results["bare"][sessions, per_conn].rate
        base_cpu = all_results["bare"][sessions, per_conn].cpu_ms
        ratios = "   ".join(
            f"{b}/bare {all_results[b][sessions, per_conn].rate / base:.2f}x "
            f"(CPU/msg {all_results[b][sessions, per_conn].cpu_ms / base_cpu:.1f}x)"
            for b in backends
        )
        conn = "1 msg/conn" if per_conn == 1 else f"{per_conn} msg/conn"
        print(f"ratio {sessions:>3} sessions  {conn:<13} {ratios}")
    main_backend = backends[0] if backends else "bare"
    headline = all_results[main_backend][HEADLINE].rate / all_results["bare"][HEADLINE].rate
    suffix = " (--quick: counts too small to mean anything)" if args.quick else ""
    print(f"headline: {main_backend}/bare {headline:.2f}x at {HEADLINE[0]} sessions, 1 msg/conn{suffix}")


if __name__ == "__main__":
    main()
