"""Plain, frozen views the repository returns; ORM objects never leave ``store``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: Every state an inbound receipt can be in. ``queued`` is the only one that is ever processed.
STATUSES = ("queued", "linked", "ignored", "failed")
FINAL_STATUSES = ("linked", "ignored", "failed")
#: What a user may see in the web viewer: everything, its team's mail, or only its own.
ROLES = ("all", "team", "own")


@dataclass(frozen=True, slots=True)
class InboundView:
    id: str
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str | None
    helo: str | None
    size: int
    sha256: str
    status: str
    attempts: int
    last_error: str | None
    reason: str | None
    updated_at: datetime
    processed_at: datetime | None


@dataclass(frozen=True, slots=True)
class UserRef:
    id: int
    email: str
    name: str
    role: str
    team: str | None


# --- directory import: validated rows in, counts out ----------------------------------------------------------
# Rows are already normalized by the caller: addresses and domains lower-case, codes upper-case, lists deduplicated.
# ``line`` is the row's line in the source file, so that every problem the store finds can point at it.


@dataclass(frozen=True, slots=True)
class UserRow:
    line: int
    email: str
    name: str
    #: ``None``: the user belongs to no team.
    team: str | None
    role: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClientRow:
    line: int
    name: str
    domains: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContactRow:
    line: int
    name: str
    emails: tuple[str, ...]
    #: A client's name, matched case-insensitively; ``None``: a contact without a client.
    client: str | None = None


@dataclass(frozen=True, slots=True)
class RecordRow:
    line: int
    code: str
    type: str
    title: str
    client: str | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    #: Teams a users import created (or, in a dry run, would create).
    new_teams: tuple[str, ...] = ()
