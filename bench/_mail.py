"""The synthetic CRM directory and the realistic mixed mail the benchmarks send, generated from a seed.

The mail is what salespeople send the assistant: BCC copies, inline forwards (Outlook and Gmail style, Polish and
English labels) and forwards attached as ``message/rfc822``, 4-64 KiB with bodies, HTML alternatives and
attachments. Everything is generated from a seed, so two runs send the same bytes.
"""

from __future__ import annotations

import base64
import csv
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from _common import ASSISTANT, ORG_DOMAIN

FIRST = ["Jan", "Anna", "Piotr", "Ewa", "Tomasz", "Zuzana", "Petr", "Ion", "Elena", "Marek", "Katarzyna", "Radu"]
LAST = ["Nowak", "Kowalski", "Dvořák", "Popescu", "Wiśniewska", "Svoboda", "Ionescu", "Zieliński", "Novák", "Lis"]
TLDS = ["pl", "cz", "ro", "com"]


def _ascii(text: str) -> str:
    table = str.maketrans("ąćęłńóśźżřěščžýáíéůúțșăâî", "acelnoszzrescyyaieuutsaai")
    return text.lower().translate(table)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who sends or receives mail: a display name and an address."""

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
        person, subject = _counterpart(rng, directory, i)
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
            raw = _inline_forward(rng, user, person, subject, date, mid, size)
        else:
            inner_mid = f"orig-{seed}-{i}@{person.address.split('@')[1]}"
            raw = _attached_forward(rng, user, person, subject, date, (mid, inner_mid), size, html=html)
        sent.append(mid)
        mails.append(Mail(kind, user.address, raw))
    return mails


def _counterpart(rng: random.Random, directory: Directory, i: int) -> tuple[Person, str]:
    """Message ``i``'s external person (a known contact, or one in six a stranger) and its subject."""
    person, client = rng.choice(directory.contacts)
    if rng.random() < 1 / 6:
        tld = rng.choice(TLDS)
        person = Person(f"{rng.choice(FIRST)} {rng.choice(LAST)}", f"kontakt{i}@new-company-{i}.example-{tld}.net")
    code = directory.records[client][0] if rng.random() < 1 / 3 else None
    subject = f"Oferta {code}" if code else rng.choice(["Zamówienie", "Objednávka dílů", "Comanda flota", "Contract"])
    return person, subject


def _inline_forward(
    rng: random.Random, user: Person, person: Person, subject: str, date: datetime, mid: str, size: int
) -> bytes:
    """``user`` forwards ``person``'s mail inline to the assistant, with Polish Outlook or Gmail labels."""
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
    return _wrap(headers, note, rng, size, html=False)


def _attached_forward(
    rng: random.Random,
    user: Person,
    person: Person,
    subject: str,
    date: datetime,
    mids: tuple[str, str],
    size: int,
    *,
    html: bool,
) -> bytes:
    """``user`` forwards ``person``'s mail to the assistant as an attached ``message/rfc822``; ``mids`` are the
    outer and the inner Message-ID."""
    mid, inner_mid = mids
    inner_text = _body(rng, rng.randint(400, 3000))
    inner = (
        _headers(person, [user], subject, date - timedelta(hours=2), inner_mid)
        + f"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{inner_text}\r\n"
    )
    headers = _headers(user, [Person("Assistant", ASSISTANT)], f"Fwd: {subject}", date, mid)
    return _wrap(headers, "See the attached message.", rng, size, html=html, inner=inner)
