"""Plain, frozen views the repository returns; ORM objects never leave ``store``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: Every state an inbound receipt can be in. ``queued`` is the only one that is ever processed.
STATUSES = ("queued", "linked", "ignored", "failed")
FINAL_STATUSES = ("linked", "ignored", "failed")


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
