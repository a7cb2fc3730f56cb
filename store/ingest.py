"""The ingest log as the viewer shows it (role ``all``): receipts with the message each was filed as, filtered by
status and reason, and the first bytes of raw messages, for the subject and sender of what was never filed."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from store.cursors import before, decode_key_cursor, encode_key_cursor
from store.models import Inbound, InlineBlob, Message
from store.page_shapes import IngestPage, IngestRow
from store.shapes import InboundView

#: Characters of a reason filter beyond this are not searched for.
MAX_REASON_FILTER = 200
#: The ingest log's cursors carry this tag: a cursor of another list is refused.
_CURSOR_KIND = "r"


def _rows() -> Select[Any]:
    return select(*Inbound.__table__.columns, Message.subject, Message.from_name, Message.from_address).outerjoin(
        Message, Message.id == Inbound.message_id
    )


#: The ``InboundView`` fields, each a column of ``inbound`` by the same name.
_RECEIPT_FIELDS = tuple(f.name for f in fields(InboundView))


def _ingest_row(row: Any) -> IngestRow:
    values = {name: getattr(row, name) for name in _RECEIPT_FIELDS}
    values["rcpt_tos"] = tuple(values["rcpt_tos"] or ())
    return IngestRow(
        receipt=InboundView(**values),
        message_id=row.message_id,
        subject=row.subject,
        from_name=row.from_name,
        from_address=row.from_address,
    )


def reason_matches(reason: str) -> ColumnElement[bool]:
    """Receipts whose reason or last error contains ``reason``, whatever the case (``\\`` escapes wildcards)."""
    escaped = reason[:MAX_REASON_FILTER].lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return func.lower(func.coalesce(Inbound.reason, Inbound.last_error, "")).like(pattern, escape="\\")


def list_ingest_log(
    session: Session, status: str | None, reason: str | None, limit: int, after: str | None = None
) -> IngestPage:
    """``limit`` receipts, newest first, of one status and with a reason containing ``reason`` when given, from
    just after the cursor ``after`` (``BadCursorError`` for one this list did not hand out).

    Keyset paging on (received_at, id), the index ``ix_inbound_received_at_id``: a page costs the same however deep
    it is, and receipts arriving meanwhile neither shift nor repeat the rows of the pages after it.
    """
    stmt = _rows()
    if status is not None:
        stmt = stmt.where(Inbound.status == status)
    if reason:
        stmt = stmt.where(reason_matches(reason))
    if after is not None:
        at, last_id = decode_key_cursor(_CURSOR_KIND, after)
        stmt = stmt.where(before(Inbound.received_at, Inbound.id, at, last_id))
    stmt = stmt.order_by(Inbound.received_at.desc(), Inbound.id.desc()).limit(limit + 1)
    rows = [_ingest_row(row) for row in session.execute(stmt)]
    page, more = rows[:limit], len(rows) > limit
    last = page[-1].receipt if more else None
    return IngestPage(tuple(page), encode_key_cursor(_CURSOR_KIND, last.received_at, last.id) if last else None)


def get_ingest_row(session: Session, inbound_id: str) -> IngestRow | None:
    """One receipt with the message it was filed as, or ``None``."""
    row = session.execute(_rows().where(Inbound.id == inbound_id)).first()
    return _ingest_row(row) if row is not None else None


def inline_heads(session: Session, sha256s: list[str], size: int) -> dict[str, bytes]:
    """The first ``size`` bytes of each of these blobs that the database holds (larger ones are files)."""
    if not sha256s:
        return {}
    stmt = select(InlineBlob.sha256, func.substr(InlineBlob.data, 1, size)).where(InlineBlob.sha256.in_(sha256s))
    return {sha: bytes(head) for sha, head in session.execute(stmt)}
