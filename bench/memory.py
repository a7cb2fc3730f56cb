"""Benchmark 5, memory: peak RSS (VmHWM) of ``mailassist smtp`` receiving messages at the size limit, one at a
time and several at once, against bare aiosmtpd (which keeps every line as its own object) doing the same. The
storage process's private memory (sampled; what it shares with the SMTP process is in the latter's RSS) is added.

    .venv/bin/python bench/memory.py            # 25 MiB limit: 1, 10 and 20 at once (20 > max_concurrent_data)
    .venv/bin/python bench/memory.py --quick    # CI: 2 MiB limit; asserts only that every message got 250 and
                                                # is in the database, never memory figures

Each scenario starts a fresh server, so VmHWM is that scenario's peak. In-flight bytes are the message bytes the
server can hold at once: min(senders, max_concurrent_data) x message size. Goal (issue 5): peak RSS <= 2 x
in-flight + 100 MiB. The last line is the headline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PeakSampler, process_tree
from _smtp import Server, bare_server, mailassist_smtp, make_message, stored_ids, tempdir
from _smtp_load import run_load

MIB = 1024 * 1024
#: The default ``smtp.max_concurrent_data``, used where the scenario does not set it.
DEFAULT_SLOTS = 8


@dataclass
class Scenario:
    senders: int
    slots: int

    @property
    def in_flight(self) -> int:
        return min(self.senders, self.slots)


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` figure such as ``VmHWM``, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def children_private_kib(pid: int) -> int:
    """Memory only the processes below ``pid`` use (the gateway's storage process): their private pages, from
    ``/proc/PID/smaps_rollup``. Pages a forked child still shares with its parent are in the parent's RSS already."""
    total = 0
    for member in process_tree(pid)[1:]:
        try:
            lines = Path(f"/proc/{member}/smaps_rollup").read_text().splitlines()
        except OSError:  # ended meanwhile
            continue
        total += sum(int(line.split()[1]) for line in lines if line.startswith(("Private_Clean:", "Private_Dirty:")))
    return total


def children_peak(pid: int) -> PeakSampler:
    """The largest ``children_private_kib`` seen, sampled every 10 ms (the kernel keeps no peak of it)."""
    return PeakSampler(lambda: children_private_kib(pid), 0.01, floor=children_private_kib(pid))


def measure(server: Server, size: int, senders: int, tag: str) -> tuple[int, int, list[str]]:
    """Idle RSS after one small message, then peak RSS over ``senders`` messages of ``size`` sent at once: the
    server's own peak (VmHWM) plus the largest private memory of its child processes seen meanwhile."""
    warm = asyncio.run(run_load(server.port, [make_message(0, 4096, tag=f"{tag}-warm")], sessions=1, per_conn=1))
    assert warm.accepted == 1, warm.errors
    pid = server.proc.pid
    idle = (status_kib(pid, "VmRSS") + children_private_kib(pid)) * 1024
    messages = [make_message(i, size, tag=tag) for i in range(senders)]
    with children_peak(pid) as children:
        result = asyncio.run(run_load(server.port, messages, sessions=senders, per_conn=1))
    if result.accepted != senders:
        raise SystemExit(f"{tag}: {result.accepted}/{senders} got 250; first errors: {result.errors[:3]}")
    peak = (status_kib(pid, "VmHWM") + children.peak) * 1024
    return idle, peak, warm.queued_ids + result.queued_ids


def verdict(peak: int, goal: int, *, quick: bool) -> str:
    """Whether ``peak`` met ``goal``; at 2 MiB the idle server alone exceeds the goal's 100 MiB of slack, so
    ``--quick`` checks only that it works."""
    if quick:
        return "not judged in --quick, too small to mean anything"
    return "met" if peak <= goal else "MISSED"


def measure_bare(work: Path, n: int, size: int, limit: int) -> None:
    """Bare aiosmtpd taking ``n`` messages at once: its idle and peak RSS."""
    where = work / f"bare-{n}"
    where.mkdir()
    with bare_server(where, max_message_size=limit) as bare:
        idle, peak, _ = measure(bare, size, n, f"bare-{n}")
    print(
        f"bare aiosmtpd  {n:>2} at once              idle {idle / MIB:6.1f} MiB   peak {peak / MIB:6.1f} MiB   "
        f"(peak - idle) / in-flight {(peak - idle) / (n * size):4.2f}x",
        flush=True,
    )


def measure_gateway(work: Path, s: Scenario, size: int, limit: int, *, quick: bool) -> str:
    """``mailassist smtp`` in scenario ``s``: check every message was stored, print its figures, and return the
    headline when this is the scenario it is about (10 at once), else an empty string."""
    where = work / f"smtp-{s.senders}"
    where.mkdir()
    smtp = {"max_message_size": limit, "max_concurrent_data": s.slots}
    with mailassist_smtp(where, "sqlite", smtp=smtp, log_level="warning") as gw:
        idle, peak, ids = measure(gw, size, s.senders, f"smtp-{s.senders}")
        stored = stored_ids(gw.store_url)
    missing = set(ids) - stored
    if len(ids) != s.senders + 1 or missing:
        raise SystemExit(f"{s.senders} at once: {len(missing)} accepted messages are not in the database")
    in_flight = s.in_flight * size
    goal = 2 * in_flight + 100 * MIB
    print(
        f"mailassist     {s.senders:>2} at once, {s.slots:>2} slots    idle {idle / MIB:6.1f} MiB   "
        f"peak {peak / MIB:6.1f} MiB   in-flight {in_flight / MIB:6.1f} MiB   "
        f"peak / in-flight {peak / in_flight:4.2f}x   "
        f"(peak - idle) / in-flight {(peak - idle) / in_flight:4.2f}x   "
        f"goal {goal / MIB:.0f} MiB: {verdict(peak, goal, quick=quick)}",
        flush=True,
    )
    if s.senders != 10:
        return ""
    return (
        f"headline: peak RSS {peak / in_flight:.2f}x the in-flight bytes at 10 x {size / MIB:.0f} MiB "
        f"({peak / MIB:.0f} MiB; goal 2x + 100 MiB = {goal / MIB:.0f} MiB: "
        f"{verdict(peak, goal, quick=quick)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 MiB limit, for CI: checks only that it works")
    args = parser.parse_args()
    limit = 2 * MIB if args.quick else 25 * MIB
    # The largest message that fits: the limit counts the wire bytes, the final line end included.
    size = limit - 1024
    scenarios = [Scenario(1, DEFAULT_SLOTS), Scenario(10, 10), Scenario(20, DEFAULT_SLOTS)]
    bare_counts = (1, 10)
    if args.quick:
        scenarios, bare_counts = [Scenario(10, 10)], (10,)
    print(f"message size {size / MIB:.1f} MiB (smtp.max_message_size = {limit / MIB:.0f} MiB)", flush=True)

    headline = ""
    with tempdir("bench-memory-") as tmp:
        work = Path(tmp)
        for n in bare_counts:
            measure_bare(work, n, size, limit)
        for s in scenarios:
            headline = measure_gateway(work, s, size, limit, quick=args.quick) or headline
    print(headline)


if __name__ == "__main__":
    main()
