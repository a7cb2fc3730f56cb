"""A receipt on its way in: what the gateway proved (``Trust``), the bytes staged but not committed
(``StagedInbound``), and the view of a committed receipt."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Required, TypedDict

from store.rows import from_row
from store.shapes import Arrival, InboundView


def receipt_view(row: Any) -> InboundView:
    """A committed receipt as callers see it, from an ``Inbound``, a Core row or anything with its columns."""
    return from_row(InboundView, row, rcpt_tos=tuple(row.rcpt_tos))


@dataclass(frozen=True, slots=True)
class Trust:
    """What the gateway proved about a message before accepting it (``gateway.trust``): recorded on the receipt."""

    submitter: str
    proof: str
    auth: dict[str, Any] | None = None


class Envelope(TypedDict, total=False):
    """How a message came, as ``Receipts.add_inbound`` and ``stage_inbound`` take it (keyword arguments)."""

    mail_from: Required[str]
    rcpt_tos: Required[Sequence[str]]
    peer: str | None
    helo: str | None
    #: ``time.monotonic()`` past which the caller has given up; ``None``: never.
    deadline: float | None
    #: What the gateway proved about the message.
    trust: Trust | None
    #: Where it came from (``smtp``, ``api``, ``file``, ``imap:NAME``, ``attached:<receipt id>``).
    source: str


class _Committed:
    """Attribute access to a receipt's column values, as ``receipt_view`` reads a row."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


@dataclass(frozen=True, slots=True)
class StagedInbound(Arrival):
    """A receipt between ``stage_inbound`` and ``add_inbound_batch``: a large message's bytes on disk (a small
    one's in ``inline``), nothing committed."""

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
        return receipt_view(_Committed(**self.row(), last_error=None, reason=None, processed_at=None))


def clip(value: str | None, column: Any) -> str | None:
    """``value`` cut to the length of the String ``column`` (an over-long value fails the insert on PostgreSQL)."""
    length = _column_length(column)
    return value[:length] if value is not None and length else value


@functools.cache
def _column_length(column: Any) -> int | None:
    # Read through the ORM attribute once per column, not once per message (it cost ~20 us a call at intake)
    length: int | None = getattr(column.type, "length", None)
    return length
