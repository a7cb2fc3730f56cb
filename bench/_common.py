"""Shared pieces of the benchmarks: machine details, a synthetic CRM directory, realistic mixed mail, percentiles.

The mail is what salespeople send the assistant: BCC copies, inline forwards (Outlook and Gmail style, Polish and
English labels) and forwards attached as ``message/rfc822``, 4-64 KiB with bodies, HTML alternatives and
attachments. Everything is generated from a seed, so two runs send the same bytes.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import math
import os
import platform
import random
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from store import Store

ROOT = Path(__file__).resolve().parent.parent
#: Where a benchmark on PostgreSQL creates (and drops) its databases.
PG_ADMIN_URL = os.environ.get("MAILASSIST_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ASSISTANT = "assistant@crm.example.com"
ORG_DOMAIN = "example.com"
#: Record code prefix → type, as in the config the servers run with.
CODES = {"OP": "deal"}


# --- machine ------------------------------------------------------------------------------------------------


def machine() -> str:
    """One line: cores, CPU model, Python and SQLite versions (PostgreSQL's when ``psql`` answers)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [
        f"{os.cpu_count()} cpus ({model})",
        f"Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    pg = postgres_version()
    if pg:
        parts.append(f"PostgreSQL {pg}")
    return ", ".join(parts)


def postgres_version(host: str = "127.0.0.1") -> str | None:
    """The server version from ``psql``, or ``None`` when it is not reachable."""
    try:
        out = subprocess.run(
            ["psql", "-w", "-h", host, "-U", "postgres", "-d", "postgres", "-XtAc", "show server_version"],
            capture_output=True,
            check=False,
            text=True,
            timeout=5,
            env={**os.environ, "PGCONNECT_TIMEOUT": "3"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().split()[0] if out.returncode == 0 and out.stdout.strip() else None


# --- statistics ---------------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (the gateway's storage process, for one), from ``/proc``."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                todo += [int(c) for c in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` and the processes below it have used so far (all their threads),
    from ``/proc``; NaN once ``pid`` is gone."""
    total = float("nan")
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        total = seconds if member == pid else total + seconds
    return total


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class SanityError(Exception):
    """A benchmark's own check failed: the figures would be meaningless."""


def check(condition: bool, what: str) -> None:
    """Raise ``SanityError(what)`` unless ``condition``."""
    if not condition:
        raise SanityError(what)


def run_main(main: Callable[[], int | None]) -> NoReturn:
    """Run a benchmark's ``main`` as a script: output line-buffered (progress shows when piped too), and a failed
    sanity check one line on stderr and exit 1."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        sys.exit(main())
    except SanityError as exc:
        print(f"sanity check failed: {exc}", file=sys.stderr)
        sys.exit(1)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg

    name = f"mailassist_bench_{secrets.token_hex(5)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_store(folder: Path, *, pg: bool) -> Iterator[Store]:
    """A fresh, migrated store (SQLite in ``folder``, or a new PostgreSQL database), closed and dropped afterwards;
    blobs go under ``folder``."""
    from store import Store

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(pg_database()) if pg else f"sqlite:///{folder}/mailassist.db"
        store = Store(url, folder / "blobs")
        stack.callback(store.close)
        store.open(upgrade=True)
        yield store


# --- a synthetic directory ----------------------------------------------------------------------------------

FIRST = ["Jan", "Anna", "Piotr", "Ewa", "Tomasz", "Zuzana", "Petr", "Ion", "Elena", "Marek", "Katarzyna", "Radu"]
LAST = ["Nowak", "Kowalski", "Dvořák", "Popescu", "Wiśniewska", "Svoboda", "Ionescu", "Zieliński", "Novák", "Lis"]
TLDS = ["pl", "cz", "ro", "com"]


def _ascii(text: str) -> str:
    table = str.maketrans("ąćęłńóśźżřěščžýáíéůúțșăâî", "acelnoszzrescyyaieuutsaai")
    return text.lower().translate(table)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    address: str


@dataclass
class Directory:
    """Users (our salespeople), clients with a domain and a shared address, their contacts, and deal records."""

    users: list[Person] = field(default_factory=list)
    clients: list[tuple[str, str, str]] = field(default_factory=list)  # name, domain, shared address
    contacts: list[tuple[Person, int]] = field(default_factory=list)  # person, client index
    records: list[tuple[str, int]] = field(default_factory=list)  # code, client index

    def write_csvs(self, folder: Path) -> dict[str, Path]:
        """The four CSV files ``mailassist import`` reads, in import order."""
        folder.mkdir(parents=True, exist_ok=True)
        rows: dict[str, tuple[list[str], list[list[str]]]] = {
            "users": (
                ["email", "name", "team", "role", "aliases"],
                [[u.address, u.name, "Sales", "team", ""] for u in self.users],
            ),
            "clients": (["name", "domains", "emails"], [[n, d, e] for n, d, e in self.clients]),
            "contacts": (
                ["name", "emails", "client"],
                [[p.name, p.address, self.clients[c][0]] for p, c in self.contacts],
            ),
            "records": (
                ["code", "type", "title", "client"],
                [[code, "deal", f"Deal {code}", self.clients[c][0]] for code, c in self.records],
            ),
        }
        paths = {}
        for kind, (header, body) in rows.items():
            path = folder / f"{kind}.csv"
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(header)
                writer.writerows(body)
            paths[kind] = path
        return paths


def make_directory(*, users: int = 10, clients: int = 200, contacts_per_client: int = 3, seed: int = 1) -> Directory:
    """A directory of ``users`` salespeople at ``ORG_DOMAIN`` and ``clients`` clients with contacts and a deal each."""
    rng = random.Random(seed)
    d = Directory()
    for i in range(users):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST) + i) % len(LAST)]
        d.users.append(Person(f"{first} {last}", f"{_ascii(first)}.{_ascii(last)}{i}@{ORG_DOMAIN}"))
    for c in range(clients):
        domain = f"client{c}.example-{rng.choice(TLDS)}.net"
        d.clients.append((f"Client {c} Sp. z o.o.", domain, f"biuro@{domain}"))
        for k in range(contacts_per_client):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            d.contacts.append((Person(f"{first} {last}", f"{_ascii(first)}.{_ascii(last)}{k}@{domain}"), c))
        d.records.append((f"OP-{1000 + c}", c))
    return d


# --- realistic mixed mail -----------------------------------------------------------------------------------

PARAGRAPHS = [
    "Dzień dobry, w nawiązaniu do naszej rozmowy przesyłam zaktualizowaną ofertę na dostawę naczep chłodniczych.",
    "Prosimy o potwierdzenie terminu dostawy oraz warunków płatności do końca tygodnia, tak jak ustaliliśmy.",
    "Dobrý den, v příloze zasíláme objednávku náhradních dílů pro třetí čtvrtletí a prosíme o potvrzení ceny.",
    "Bună ziua, confirmăm comanda pentru douăsprezece autoutilitare și așteptăm factura proformă.",
    "Hello, thank you for the quick turnaround; the team reviewed the contract and has two small remarks.",
    "W załączniku znajduje się protokół odbioru oraz lista brakujących palet z dostawy z 14 listopada.",
]


@dataclass(frozen=True, slots=True)
class Mail:
    """One message to send: the envelope, the bytes, and what kind it is."""

    kind: str
    mail_from: str
    raw: bytes


def _body(rng: random.Random, size: int) -> str:
    lines: list[str] = []
    total = 0
    while total < size:
        line = rng.choice(PARAGRAPHS)
        lines.append(line)
        total += len(line.encode()) + 2
    return "\r\n\r\n".join(lines)


def _attachment(rng: random.Random, size: int, boundary: str, name: str) -> str:
    data = base64.encodebytes(rng.randbytes(size)).decode().replace("\n", "\r\n")
    return (
        f'--{boundary}\r\nContent-Type: application/pdf; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n{data}'
    )


def _text_part(text: str, html: bool) -> str:
    plain = f"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
    if not html:
        return plain
    paragraphs = "".join(f"<p>{p}</p>\r\n" for p in text.split("\r\n\r\n"))
    return (
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n--alt\r\n' + plain + "--alt\r\n"
        "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"<html><body>\r\n{paragraphs}</body></html>\r\n--alt--\r\n"
    )


def _headers(sender: Person, to: Sequence[Person], subject: str, date: datetime, mid: str, extra: str = "") -> str:
    def mailbox(p: Person) -> str:
        return f'"{p.name}" <{p.address}>'

    return (
        f"From: {mailbox(sender)}\r\nTo: {', '.join(mailbox(p) for p in to)}\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(date)}\r\nMessage-ID: <{mid}>\r\n{extra}MIME-Version: 1.0\r\n"
    )


def _wrap(headers: str, text: str, rng: random.Random, size: int, *, html: bool, inner: str = "") -> bytes:
    """Headers and a body of about ``size`` bytes: text (and HTML), then an attached ``inner`` message and a PDF."""
    room = size - len(headers) - len(inner) - 600
    text_size = min(max(room, 200), rng.randint(600, 6000))
    body = text + "\r\n\r\n" + _body(rng, text_size) if text else _body(rng, text_size)
    attach = max(0, room - text_size * (2 if html else 1)) * 3 // 4
    if not inner and attach < 512:
        return (headers + _text_part(body, html)).encode()
    parts = [f"--mix\r\n{_text_part(body, html)}"]
    if inner:
        parts.append(
            "--mix\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; "
            f'filename="forwarded.eml"\r\n\r\n{inner}\r\n'
        )
    if attach >= 512:
        parts.append(_attachment(rng, attach, "mix", f"oferta-{rng.randint(1, 999)}.pdf"))
    return (headers + 'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n' + "".join(parts) + "--mix--\r\n").encode()


#: Share of each kind in the mix.
KINDS = (("bcc", 0.45), ("inline", 0.30), ("attached", 0.25))


def make_mail(directory: Directory, count: int, *, seed: int = 7, min_kib: int = 4, max_kib: int = 64) -> list[Mail]:
    """``count`` messages, mixed by ``KINDS``, sizes log-uniform in [min_kib, max_kib] KiB, all from known users.

    About one in six external senders is unknown (a new lead); one in three subjects carries a deal code; one in
    five messages replies to an earlier one (a thread lookup).
    """
    rng = random.Random(seed)
    base = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    sent: list[str] = []
    mails = []
    for i in range(count):
        user = rng.choice(directory.users)
        person, client = rng.choice(directory.contacts)
        if rng.random() < 1 / 6:
            tld = rng.choice(TLDS)
            person = Person(f"{rng.choice(FIRST)} {rng.choice(LAST)}", f"kontakt{i}@new-company-{i}.example-{tld}.net")
        code = directory.records[client][0] if rng.random() < 1 / 3 else None
        subject = (
            f"Oferta {code}" if code else rng.choice(["Zamówienie", "Objednávka dílů", "Comanda flota", "Contract"])
        )
        date = base + timedelta(minutes=i)
        mid = f"bench-{seed}-{i}@mail.{ORG_DOMAIN}"
        size = int(1024 * math.exp(rng.uniform(math.log(min_kib), math.log(max_kib))))
        html = rng.random() < 0.3
        reply = ""
        if sent and rng.random() < 0.2:
            parent = rng.choice(sent)
            reply = f"In-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n"
        kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
        if kind == "bcc":
            raw = _wrap(_headers(user, [person], subject, date, mid, reply), "", rng, size, html=html)
        elif kind == "inline":
            when = date - timedelta(hours=3)
            if rng.random() < 0.5:
                block = (
                    f"Od: {person.name} <{person.address}>\r\nWysłano: {when:%d.%m.%Y %H:%M}\r\n"
                    f"Do: {user.name} <{user.address}>\r\nTemat: {subject}\r\n"
                )
                outer = f"PD: {subject}"
            else:
                block = (
                    f"---------- Forwarded message ---------\r\nFrom: {person.name} <{person.address}>\r\n"
                    f"Date: {format_datetime(when)}\r\nSubject: {subject}\r\nTo: {user.name} <{user.address}>\r\n"
                )
                outer = f"Fwd: {subject}"
            note = "Proszę o wpis do CRM.\r\n\r\n" + block + "\r\n"
            headers = _headers(user, [Person("Assistant", ASSISTANT)], outer, date, mid)
            raw = _wrap(headers, note, rng, size, html=False)
        else:
            inner_text = _body(rng, rng.randint(400, 3000))
            inner = (
                _headers(
                    person,
                    [user],
                    subject,
                    date - timedelta(hours=2),
                    f"orig-{seed}-{i}@{person.address.split('@')[1]}",
                )
                + f"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{inner_text}\r\n"
            )
            headers = _headers(user, [Person("Assistant", ASSISTANT)], f"Fwd: {subject}", date, mid)
            raw = _wrap(headers, "See the attached message.", rng, size, html=html, inner=inner)
        sent.append(mid)
        mails.append(Mail(kind, user.address, raw))
    return mails


def config_sections(
    *, smtp_port: int, web_port: int, store_url: str, blob_dir: Path, broker: str
) -> dict[str, dict[str, object]]:
    """The TOML sections of a server config for these benchmarks (see ``write_config``)."""
    return {
        "smtp": {"listen": f"127.0.0.1:{smtp_port}", "max_connections": 200},
        "web": {"listen": f"127.0.0.1:{web_port}"},
        "assistant": {"addresses": [ASSISTANT]},
        "organization": {"domains": [ORG_DOMAIN]},
        "store": {"url": store_url, "blob_dir": str(blob_dir)},
        "queue": {"broker": broker},
        "codes": dict(CODES),
        "logging": {"level": "info", "format": "json"},
    }


def write_config(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    """Write ``{"section": {"key": value}}`` as TOML (strings, numbers, lists of strings)."""
    import json

    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
