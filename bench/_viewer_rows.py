"""The rows ``bench/seed_viewer.py`` bulk-loads, table by table, generated from a seed: users in teams, a
directory of clients with their domains, addresses, contacts, records and leads, and the filed mail with its
participants, links and receipts (and some receipts never filed)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: The first admin (role ``all``, team 1), whom ``seed_viewer`` logs in as.
ADMIN = "admin1@example.com"
TEAMS = 5
#: When the newest seeded message was sent; the rest spread over the two years before.
NEWEST = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=730).total_seconds()
RCPT = json.dumps(["assistant@crm.example.com"])
#: A table's name, its columns, and its rows.
Table = tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]]]


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


class Rows:
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

    def tables(self) -> Iterator[Table]:
        """Every table's rows: the users, the directory, then the mail."""
        yield from self.people()
        yield from self.directory()
        yield from self.mail()

    def people(self) -> Iterator[Table]:
        now = self.when(NEWEST)
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

    def directory(self) -> Iterator[Table]:
        now = self.when(NEWEST)
        n = self.n_clients
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

    def mail(self) -> Iterator[Table]:
        """The filed messages with their participants, links, receipts (and SQLite's search index), then the
        receipts that were never filed."""
        rows = _MailRows()
        for m in range(1, self.n_messages + 1):
            self._filed(m, rows)
        for k in range(1, self.n_messages // 50 + 1):
            rows.inbound.append(self._unfiled(k))
        self.links, self.receipts = len(rows.links), len(rows.inbound)
        yield (
            "messages",
            ("id", "dedupe_key", "message_id_header", "subject", "date", "from_name", "from_address", "direction",
             "kind", "submitter_user_id", "body_text", "raw_sha256", "created_at"),
            iter(rows.messages),
        )  # fmt: skip
        yield (
            "participants",
            ("id", "message_id", "role", "address", "name", "internal", "match_type", "match_id", "match_via"),
            iter(rows.participants),
        )
        yield "links", ("id", "message_id", "entity_type", "entity_id", "reason", "created_at"), iter(rows.links)
        yield (
            "inbound",
            ("id", "received_at", "mail_from", "rcpt_tos", "submitter", "proof", "size", "sha256", "status",
             "attempts", "reason", "message_id", "updated_at", "processed_at"),
            iter(rows.inbound),
        )  # fmt: skip
        if self.sqlite:
            yield "messages_fts", ("rowid", "subject", "body_text", "addresses"), iter(rows.fts)

    def _filed(self, m: int, rows: _MailRows) -> None:
        """Message ``m`` between a user and a client's contact, in or out, and its rows in every table."""
        rng, n = self.rng, self.n_clients
        user, email, uname, *_ = self.users[rng.randrange(len(self.users))]
        # A few clients get much of the mail, as in life: the index's count sort has something to sort.
        client = min(n, 1 + int(rng.paretovariate(1.2)) % n) if rng.random() < 0.1 else rng.randint(1, n)
        contact = 2 * client - rng.randint(0, 1)
        contact_address = f"person{contact}@client{client}.example.pl"
        sent = NEWEST - timedelta(seconds=rng.random() * SPAN)
        incoming = rng.random() < 0.5
        subject = f"Offer {m} for client {client}"
        sha = hashlib.sha256(f"seed-viewer-{m}".encode()).hexdigest()
        sender, sender_name = (contact_address, f"Contact {contact:05d} Nowak") if incoming else (email, uname)
        rows.messages.append(
            (m, f"<{m}@seed>", f"<{m}@seed>", subject, self.when(sent), sender_name, sender,
             "incoming" if incoming else "outgoing", "redirect" if incoming else "bcc", user,
             f"Dear customer, about offer {m}.", sha, self.when(sent))
        )  # fmt: skip
        pid = len(rows.participants)
        me = ("to" if incoming else "from", email, uname, True, "user", user, "address")
        them = ("from" if incoming else "to", contact_address, None, False, "contact", contact, "address")
        rows.participants.append((pid + 1, m, *me))
        rows.participants.append((pid + 2, m, *them))
        kinds = [("user", user, "submitter"), ("contact", contact, "address"), ("client", client, "address")]
        if client % 2 == 0 and rng.random() < 0.3:
            kinds.append(("record", client // 2, "code"))
        if rng.random() < 0.15:
            kinds.append(("lead", rng.randint(1, n), "address"))
        for entity_type, entity_id, reason in kinds:
            rows.links.append((len(rows.links) + 1, m, entity_type, entity_id, reason, self.when(sent)))
        rows.inbound.append(
            (f"S{m:017d}", self.when(sent), email, RCPT, email, "dkim", 4096, sha, "linked", 1,
             f"submitted by {email}", m, self.when(sent), self.when(sent))
        )  # fmt: skip
        rows.fts.append((m, subject, f"Dear customer, about offer {m}.", f"{uname} {email} {contact_address}"))

    def _unfiled(self, k: int) -> tuple[Any, ...]:
        """Receipt ``k`` of a mailing list's mail: ignored, or (one in three) failed."""
        sent = NEWEST - timedelta(seconds=self.rng.random() * SPAN)
        status, reason = ("ignored", "List-Id header: a mailing list") if k % 3 else ("failed", None)
        return (
            f"X{k:017d}", self.when(sent), "news@lists.example.org", RCPT, None, None, 2048,
            hashlib.sha256(f"seed-unfiled-{k}".encode()).hexdigest(), status, 1 if k % 3 else 5,
            reason, None, self.when(sent), self.when(sent),
        )  # fmt: skip


@dataclass
class _MailRows:
    """The mail tables' rows as ``Rows.mail`` builds them."""

    messages: list[tuple[Any, ...]] = field(default_factory=list)
    participants: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[tuple[Any, ...]] = field(default_factory=list)
    inbound: list[tuple[Any, ...]] = field(default_factory=list)
    fts: list[tuple[Any, ...]] = field(default_factory=list)
