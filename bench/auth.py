"""Benchmark: what authenticating mail at intake costs per message (issue 14). Three servers side by side, in the
same minutes: (a) bare aiosmtpd storing nothing, (b) ``mailassist smtp`` on SQLite with the default trust (the
bench's 127.0.0.1 is a trusted relay: no checks, no DNS), (c) the same with ``trusted_relays = []``, so every
message is DKIM-verified (and DMARC and ARC checked) against a local DNS server in this process that publishes a
2048-bit RSA key, SPF and DMARC for example.com. SPF is recorded "skipped" there: the aligned DKIM pass decides
(``gateway.trust.settled_without_spf``); the in-process figure at the end evaluates it too.

    .venv/bin/python bench/auth.py            # full run, about 2 minutes
    .venv/bin/python bench/auth.py --quick    # CI: small counts; checks only that every message got 250 and is
                                              # in the database with proof "dkim" (c) or "trusted-relay" (b), and
                                              # that DNS was asked for the DKIM key only a few times (the cache)

Every message is DKIM-signed by example.com in advance, untimed (signing is the sender's cost), and the same bytes
go to all three servers. Rounds are interleaved (the order rotates each round); each figure is the median round.
The last line is the headline: (c) msg/s over (a) msg/s at 20 sessions, one message per connection (goal >= 0.9x).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests.dnsserver: the local DNS server

from _common import SanityError, check, cpu_seconds, machine
from _signed_mail import DOMAIN, KEY_NAME, sign_all, signed_zone, source_file
from _smtp import ASSISTANT, SENDER, Gateway, Server, start_server, tempdir
from _smtp_load import LoadResult, median_round, run_load, run_smtp_source, smtp_source

from tests.dnsserver import TTL, LocalDNS

SESSIONS = 20
#: Messages per round and server: asyncio generator (each one unique), smtp-source (one message, sent again and
#: again); full run and --quick.
FULL_COUNT, QUICK_COUNT = 800, 40
FULL_SOURCE_COUNT, QUICK_SOURCE_COUNT = 2000, 40
WARMUP = 50
#: Lookups of the DKIM key allowed per TTL period the run spans: the first, and a few threads that miss the cache
#: at once when it expires.
KEY_LOOKUPS_PER_TTL = 3
#: (a), (b), (c).
NAMES = ("bare", "auth-off", "auth-on")
PROOFS = {"auth-off": "trusted-relay", "auth-on": "dkim"}


# --- runs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One round on one server."""

    rate: float
    #: CPU of the server and its storage process, per message.
    cpu_ms: float
    #: The server process alone (event loop, and checks on its threads): CPU seconds per wall second.
    busy: float
    #: The asyncio generator's view (latencies, queued ids); ``None`` with smtp-source.
    load: LoadResult | None = None


def own_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` alone, all its threads, not its children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def metered(server: Server) -> Iterator[list[float]]:
    """Yields a list that holds, after the block, (CPU seconds of the server and its children, of the server
    alone, wall seconds)."""
    pid = server.proc.pid
    tree, alone, wall = cpu_seconds(pid), own_cpu(pid), time.perf_counter()
    spent: list[float] = []
    yield spent
    spent += [cpu_seconds(pid) - tree, own_cpu(pid) - alone, time.perf_counter() - wall]


def rotated(n: int) -> list[str]:
    """The servers in round ``n``'s order: each goes first, second and third in turn."""
    k = n % len(NAMES)
    return [*NAMES[k:], *NAMES[:k]]


def with_asyncio(
    servers: dict[str, Server], rounds: list[list[bytes]]
) -> tuple[dict[str, Sample], float, dict[str, list[str]]]:
    """Every round's messages to every server; the median round per server, the generator's own CPU (this
    process, the DNS server's threads included) per message, and every queued id per server."""
    runs: dict[str, list[Sample]] = {name: [] for name in NAMES}
    generator = 0.0
    for n, messages in enumerate(rounds):
        for name in rotated(n):
            own = time.process_time()
            with metered(servers[name]) as spent:
                result = asyncio.run(run_load(servers[name].port, messages, sessions=SESSIONS, per_conn=1))
            generator += time.process_time() - own
            check(
                result.accepted == len(messages),
                f"{name} round {n}: {result.accepted}/{len(messages)} got 250; first errors: {result.errors[:3]}",
            )
            tree, alone, wall = spent
            runs[name].append(Sample(result.rate, tree / result.accepted * 1000, alone / wall, result))
    sent = sum(len(r) for r in rounds) * len(NAMES)
    queued = {name: [i for s in samples if s.load for i in s.load.queued_ids] for name, samples in runs.items()}
    return {name: median_round(samples) for name, samples in runs.items()}, generator / sent * 1000, queued


def with_smtp_source(
    found: tuple[str, dict[str, str]], servers: dict[str, Server], message: Path, count: int, rounds: int
) -> tuple[dict[str, Sample], float]:
    """The same, sent by Postfix's smtp-source (~0.3 ms of CPU per message where the asyncio generator needs ~2):
    one signed message, ``count`` times per round. The median round per server, and smtp-source's own CPU per
    message."""
    runs: dict[str, list[Sample]] = {name: [] for name in NAMES}
    generator: list[float] = []
    for n in range(rounds):
        for name in rotated(n):
            server = servers[name]
            try:
                with metered(server) as spent:
                    seconds, own = run_smtp_source(
                        found, server.port, count, sessions=SESSIONS, reuse=False, message_file=message
                    )
            except RuntimeError as exc:  # it stops at the first reply that is not 2xx
                raise SanityError(f"smtp-source, {name} round {n}: {exc}") from exc
            tree, alone, wall = spent
            runs[name].append(Sample(count / seconds, tree / count * 1000, alone / wall))
            generator.append(own / count * 1000)
    return {name: median_round(samples) for name, samples in runs.items()}, sorted(generator)[len(generator) // 2]


# --- sanity -------------------------------------------------------------------------------------------------


def stored(store_url: str) -> dict[str, tuple[str | None, str | None, object]]:
    """Every inbound row: id → (submitter, proof, auth)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, submitter, proof, auth FROM inbound"))
            return {str(r[0]): (r[1], r[2], r[3]) for r in rows}
    finally:
        engine.dispose()


def check_stored(name: str, gateway: Gateway, queued: Sequence[str], expected_rows: int) -> Counter[str]:
    """Every accepted message is a row, submitted by the registered user with the expected proof; returns the
    authentication results of the rows, counted (``dkim pass``, ``dmarc pass``…)."""
    import json

    rows = stored(gateway.store_url)
    proof = PROOFS[name]
    missing = [i for i in queued if i not in rows]
    check(not missing, f"{name}: {len(missing)} accepted messages are not in the database: {missing[:3]}")
    check(len(rows) == expected_rows, f"{name}: {len(rows)} rows in the database, {expected_rows} accepted")
    wrong = [(i, r[0], r[1]) for i, r in rows.items() if r[0] != SENDER or r[1] != proof]
    check(not wrong, f"{name}: {len(wrong)} rows not submitted by {SENDER} with proof {proof!r}: {wrong[:3]}")
    results: Counter[str] = Counter()
    for _submitter, _proof, auth in rows.values():
        data: Any = json.loads(auth) if isinstance(auth, str) else auth
        for c in (data or {}).get("checks", []):
            results[f"{c['method']} {c['result']}"] += 1
    return results


# --- the run ------------------------------------------------------------------------------------------------


def auth_alone(dns: LocalDNS, messages: Sequence[bytes]) -> tuple[float, float]:
    """CPU per message in this process, the DNS answers cached: ``Authenticator.check`` with every check evaluated
    (as ``mailassist explain`` runs it), and the gateway's whole decision as the SMTP server makes it on its event
    loop (``Admission.quick``: the candidates, the checks with SPF skipped when an aligned DKIM pass decides, the
    verdict and the receipt's record)."""
    from gateway.admission import Admission, AdmissionSettings, Admitted, Offer
    from gateway.mailauth import Authenticator, Resolver
    from gateway.policy import RecipientPolicy
    from gateway.trust import TrustSettings
    from gateway.users import UserCache

    authenticator = Authenticator(Resolver([dns.address]))
    authenticator.check(messages[0], ip="127.0.0.1", helo="bench.test", mail_from=SENDER)
    started = time.process_time()
    for raw in messages:
        results = authenticator.check(raw, ip="127.0.0.1", helo="bench.test", mail_from=SENDER)
        check(bool(results.passing("dkim")), f"in-process check: no DKIM pass: {results.to_json()}")
    alone = (time.process_time() - started) / len(messages) * 1000

    door = Admission(
        recipients=RecipientPolicy([ASSISTANT]),
        users=UserCache(lambda keys: {k: k for k in keys if k == SENDER}, ttl=3600),
        find_token_user=lambda token_hash: None,
        authenticator=authenticator,
        settings=AdmissionSettings(TrustSettings(org_domains=(DOMAIN,)), trusted_relays=()),
    )
    envelope: dict[str, Any] = {
        "mail_from": SENDER,
        "rcpt_tos": [ASSISTANT],
        "peer": "127.0.0.1:40000",
        "helo": "bench.test",
        "secret_user": None,
    }
    door.admit(Offer(messages[0], **envelope))  # fills the user cache, as the gateway's thread does for a first message
    started = time.process_time()
    for raw in messages:
        admitted = door.quick(Offer(raw, **envelope))
        check(isinstance(admitted, Admitted), f"in-process Admission.quick: not decided on the loop: {admitted}")
    return alone, (time.process_time() - started) / len(messages) * 1000


def report(samples: dict[str, Sample]) -> None:
    """The median rounds, their ratios, and the auth cost in CPU."""
    for name, r in samples.items():
        ms = f"p50 {r.load.percentile(50):>5.1f} ms   p99 {r.load.percentile(99):>5.1f} ms   " if r.load else ""
        print(
            f"{name:<9} {SESSIONS:>3} sessions  1 msg/conn  {r.rate:>6.0f} msg/s   {ms}"
            f"server CPU {r.cpu_ms:5.2f} ms/msg   server process alone {r.busy * 100:3.0f}% of a core"
        )

    def ratio(a: str, b: str) -> str:
        return f"{a}/{b} {samples[a].rate / samples[b].rate:.2f}x"

    print(f"ratio     {ratio('auth-on', 'bare')}   {ratio('auth-off', 'bare')}   {ratio('auth-on', 'auth-off')}")
    cost = samples["auth-on"].cpu_ms - samples["auth-off"].cpu_ms
    print(f"auth cost (server CPU auth-on - auth-off): {cost:+.2f} ms/msg")


def start_servers(stack: contextlib.ExitStack, work: Path, dns: LocalDNS, log_level: str) -> dict[str, Server]:
    """(a), (b) and (c), each warmed up with ``WARMUP`` messages."""
    trust: dict[str, dict[str, object]] = {
        "trust": {"trusted_relays": [], "nameservers": [dns.address], "dns_timeout": 5.0}
    }
    servers: dict[str, Server] = {}
    for name in NAMES:
        backend = None if name == "bare" else "sqlite"
        sections = trust if name == "auth-on" else None
        servers[name] = start_server(stack, work / name, backend, log_level=log_level, sections=sections)
    print(
        "servers: (a) bare aiosmtpd, (b) auth-off: mailassist smtp on SQLite, 127.0.0.1 a trusted relay, "
        f"(c) auth-on: the same with trusted_relays = [] and its DNS at {dns.address}"
    )
    return servers


def warm_up(servers: dict[str, Server], warm: list[bytes]) -> None:
    for server in servers.values():
        # One message alone first: the DNS answers are fetched once, not by every thread of a burst.
        asyncio.run(run_load(server.port, warm[:1], sessions=1, per_conn=1))
        asyncio.run(run_load(server.port, warm[1:], sessions=5, per_conn=1))


def sanity(servers: dict[str, Server], queued: dict[str, list[str]], rows: int, dns: LocalDNS, seconds: float) -> None:
    """Each gateway stored every message with its proof; the DKIM key was looked up only a few times."""
    print("\nsanity:")
    for name, proof in PROOFS.items():
        gateway = servers[name]
        assert isinstance(gateway, Gateway)
        results = check_stored(name, gateway, queued[name], rows)
        seen = ", ".join(f"{k} {v}" for k, v in sorted(results.items())) or "none recorded"
        print(f"  {name}: {rows} rows, all from {SENDER} with proof {proof!r}; checks: {seen}")
    asked = Counter(f"{n} {t}" for n, t in dns.asked())
    key_lookups = asked.get(f"{KEY_NAME} TXT", 0)
    allowed = KEY_LOOKUPS_PER_TTL * (1 + int(seconds // TTL))
    print(f"  DNS queries in {seconds:.0f} s (TTL {TTL} s): " + ", ".join(f"{k} x{v}" for k, v in asked.items()))
    check(0 < key_lookups <= allowed, f"the DKIM key was looked up {key_lookups} times (allowed {allowed})")


def run(args: argparse.Namespace) -> tuple[float, float | None]:
    """The whole benchmark; returns the headline ratio with the asyncio generator and with smtp-source (``None``
    when it is not installed). Raises ``SanityError`` when a check fails."""
    rounds = args.rounds or (1 if args.quick else 5)
    count = args.messages or (QUICK_COUNT if args.quick else FULL_COUNT)
    source_count = QUICK_SOURCE_COUNT if args.quick else FULL_SOURCE_COUNT
    found = smtp_source()
    print(f"machine: {machine()}")
    zone, key = signed_zone()
    warm, sets, single = sign_all(key, WARMUP, count, rounds)

    with tempdir("bench-auth-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        dns = LocalDNS(zone).start()
        stack.callback(dns.stop)
        servers = start_servers(stack, work, dns, args.log_level)
        first_lookup = time.monotonic()
        warm_up(servers, warm)

        print(f"\nasyncio load generator, {SESSIONS} sessions, 1 msg/conn, {count} per round; the median of {rounds}:")
        medians, generator_ms, queued = with_asyncio(servers, sets)
        report(medians)
        print(f"load generator's own CPU (the DNS server's threads included): {generator_ms:.2f} ms/msg")
        with_source: float | None = None
        if found is None:
            print("\nsmtp-source: not installed (apt-get install postfix, or see bench/README.md): skipped")
        else:
            print(
                f"\nsmtp-source (Postfix's C load generator), {SESSIONS} sessions, 1 msg/conn, one signed message "
                f"{source_count} times per round (-F); the median of {rounds}:"
            )
            source, own_ms = with_smtp_source(found, servers, source_file(single, work), source_count, rounds)
            report(source)
            print(f"smtp-source's own CPU: {own_ms:.2f} ms/msg")
            with_source = source["auth-on"].rate / source["bare"].rate

        rows = WARMUP + count * rounds + (source_count * rounds if found else 0)
        sanity(servers, queued, rows, dns, time.monotonic() - first_lookup)
        # After the count of the gateway's DNS queries: these have their own resolver.
        alone, gateway_path = auth_alone(dns, sets[0][:200])
        print(
            f"\nin-process CPU, DNS cached: Authenticator.check with every check (DKIM, SPF, DMARC, ARC) "
            f"{alone:.2f} ms/msg; the gateway's decision (Admission.quick, SPF skipped when DKIM decides) "
            f"{gateway_path:.2f} ms/msg"
        )
    return medians["auth-on"].rate / medians["bare"].rate, with_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, for CI: checks only that it works")
    parser.add_argument("--rounds", type=int, help="rounds per server; the median counts (default 5, --quick 1)")
    parser.add_argument("--messages", type=int, help="messages per round with the asyncio generator (default 800)")
    parser.add_argument("--log-level", default="info", help="the gateway's logging.level (default info)")
    args = parser.parse_args()
    try:
        with_asyncio_ratio, with_source = run(args)
    except SanityError as exc:
        print(f"sanity FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    suffix = " (--quick: counts too small to mean anything)" if args.quick else ""
    source = f"; with smtp-source {with_source:.2f}x" if with_source is not None else ""
    print(
        f"headline: auth-on/bare {with_asyncio_ratio:.2f}x at {SESSIONS} sessions, 1 msg/conn (asyncio generator)"
        f"{source}; goal >= 0.9x{suffix}"
    )


if __name__ == "__main__":
    main()
