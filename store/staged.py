"""A receipt on its way in: what the gateway proved (``Trust``), the bytes staged but not committed
(``StagedInbound``), and the view of a committed receipt."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row

from store.models import Inbound
from store.shapes import InboundView


def receipt_view(row: Inbound | Row[Any]) -> InboundView:
    return InboundView(
        id=row.id,
        received_at=row.received_at,
        mail_from=row.mail_from,
        rcpt_tos=tuple(row.rcpt_tos),
        peer=row.peer,
        helo=row.helo,
        size=row.size,
        sha256=row.sha256,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        reason=row.reason,
        updated_at=row.updated_at,
        processed_at=row.processed_at,
        submitter=row.submitter,
        proof=row.proof,
        auth=row.auth,
        source=row.source,
    )


@dataclass(frozen=True, slots=True)
class Trust:
    """What the gateway proved about a message before accepting it (``gateway.trust``): recorded on the receipt."""

    submitter: str
    proof: str
    auth: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StagedInbound:
    """A receipt between ``stage_inbound`` and ``add_inbound_batch``: a large message's bytes on disk (a small
    one's in ``inline``), nothing committed."""

    id: str
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str | None
    helo: str | None
    size: int
    sha256: str
    #: Blob directories to fsync before the row may commit.
    dirs: frozenset[Path]
    #: ``time.monotonic()`` past which the caller has given up; ``None``: never.
    deadline: float | None
    #: The raw bytes, when small enough to commit with the row instead of as a file.
    inline: bytes | None = None
    trust: Trust | None = None
    #: Where it came from (``Inbound.source``).
    source: str = "smtp"

    def expired(self) -> bool:
        """Whether the caller has given up waiting."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def row(self) -> dict[str, object]:
        """Column values for the ``inbound`` insert."""
        return {
            "id": self.id,
            "received_at": self.received_at,
            "updated_at": self.received_at,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "peer": self.peer,
            "helo": self.helo,
            "size": self.size,
            "sha256": self.sha256,
            "status": "queued",
            "attempts": 0,
            "submitter": self.trust.submitter if self.trust else None,
            "proof": self.trust.proof if self.trust else None,
            "auth": self.trust.auth if self.trust else None,
            "source": self.source,
        }

    def view(self) -> InboundView:
        """The receipt as committed."""
        return InboundView(
            id=self.id,
            received_at=self.received_at,
            mail_from=self.mail_from,
            rcpt_tos=self.rcpt_tos,
            peer=self.peer,
            helo=self.helo,
            size=self.size,
            sha256=self.sha256,
            status="queued",
            attempts=0,
            last_error=None,
            reason=None,
            updated_at=self.received_at,
            processed_at=None,
            submitter=self.trust.submitter if self.trust else None,
            proof=self.trust.proof if self.trust else None,
            auth=self.trust.auth if self.trust else None,
            source=self.source,
        )


def clip(value: str | None, column: Any) -> str | None:
    """``value`` cut to the length of the String ``column`` (an over-long value fails the insert on PostgreSQL)."""
    length = _column_length(column)
    return value[:length] if value is not None and length else value


@functools.cache
def _column_length(column: Any) -> int | None:
    # Read through the ORM attribute once per column, not once per message (it cost ~20 us a call at intake)
    length: int | None = getattr(column.type, "length", None)
    return length
