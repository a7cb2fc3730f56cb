"""The incoming queue's verbs. A receipt is added (blob fsync'd, row committed) before the gateway answers 250,
and leaves ``queued`` exactly once, by a conditional update."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Unpack

from sqlalchemy import Select, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from store.apply import put_inline_blobs
from store.blobs import BlobStore
from store.database import Database
from store.errors import StoreError, StoreUnavailableError, describe_db_error
from store.ids import new_inbound_id
from store.models import Inbound, InlineBlob, utcnow
from store.shapes import FINAL_STATUSES, STATUSES, InboundView
from store.staged import Envelope, StagedInbound, clip, receipt_view
from store.webhooks import Outbox, add_deliveries

#: ``last_error`` is cut to this many characters; the full traceback goes to the log.
MAX_ERROR_LENGTH = 4000

_INBOUND_BY_ID = select(*Inbound.__table__.columns).where(Inbound.id == bindparam("inbound_id"))
#: A receipt with its raw bytes, when they are in the database and it is still ``queued`` (the worker's first read).
_QUEUED_INBOUND: Select[Any] = (
    select(*Inbound.__table__.columns, InlineBlob.data)
    .outerjoin(InlineBlob, and_(InlineBlob.sha256 == Inbound.sha256, Inbound.status == "queued"))
    .where(Inbound.id == bindparam("inbound_id"))
)
_INSERT_INBOUND = insert(Inbound)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))


def list_inbound(session: Session, *, status: str | None, limit: int, newest_first: bool) -> list[InboundView]:
    """The ingest log, newest first, optionally one status only."""
    if status is not None and status not in STATUSES:
        raise StoreError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    stmt = select(Inbound)
    if status is not None:
        stmt = stmt.where(Inbound.status == status)
    order = (Inbound.received_at.desc(), Inbound.id.desc()) if newest_first else (Inbound.received_at, Inbound.id)
    return [receipt_view(r) for r in session.scalars(stmt.order_by(*order).limit(limit))]


class Receipts:
    """The receipts (``Inbound`` rows): added by the intake, read and moved on by the worker, listed by the CLI."""

    def __init__(self, database: Database, blobs: BlobStore, *, inline_max: int) -> None:
        self._db = database
        self._blobs = blobs
        #: Blobs up to this size live in the database (``InlineBlob``), larger ones as files; 0: all files.
        self.inline_max = inline_max

    def add_inbound(self, raw: bytes, **envelope: Unpack[Envelope]) -> InboundView:
        """Make ``raw`` durable and commit a ``queued`` receipt for it. Raises ``StoreError`` on any failure.

        ``deadline`` (``time.monotonic()``) is checked just before the commit: a caller that has given up
        waiting (and told the client 451) gets a rollback rather than a receipt nobody was told about.
        """
        (outcome,) = self.add_inbound_batch([self.stage_inbound(raw, **envelope)])
        if isinstance(outcome, StoreError):
            raise outcome
        return outcome

    def stage_inbound(self, raw: bytes, **envelope: Unpack[Envelope]) -> StagedInbound:
        """First half of ``add_inbound``: write the blob (its bytes fsync'd) and prepare the receipt, but commit
        nothing. ``add_inbound_batch`` finishes many of these with one directory sync pass and one transaction.
        A message of up to ``inline_max`` bytes is not written here: its bytes commit with its row."""
        if len(raw) <= self.inline_max:
            sha256, dirs, inline = hashlib.sha256(raw).hexdigest(), frozenset[Path](), raw
        else:
            written = self._blobs.write(raw)
            sha256, dirs, inline = written.sha256, written.dirs, None
        now = utcnow()
        return StagedInbound(
            id=new_inbound_id(),
            received_at=now,
            mail_from=envelope["mail_from"],
            rcpt_tos=tuple(envelope["rcpt_tos"]),
            # What a client says in HELO has no length limit we can rely on: keep what the columns hold.
            peer=clip(envelope.get("peer"), Inbound.peer),
            helo=clip(envelope.get("helo"), Inbound.helo),
            size=len(raw),
            sha256=sha256,
            dirs=dirs,
            deadline=envelope.get("deadline"),
            inline=inline,
            trust=envelope.get("trust"),
            source=clip(envelope.get("source", "smtp"), Inbound.source) or "smtp",
        )

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> list[InboundView | StoreError]:
        """Group commit: fsync every blob directory of the batch once, then insert all receipts (and the bytes of
        the small messages) in ONE transaction. Returns, per item, its committed receipt or the error that kept it out.

        - A receipt whose ``deadline`` has passed just before the commit is left out (its caller said 451).
        - The database or the blob directory failing (down, locked, full) fails every item: nothing commits.
        - Any other database error (a value the database refuses) may be one bad row: each item is then retried
          in a transaction of its own, so only that one fails.
        """
        if not batch:
            return []
        try:
            self._blobs.sync_dirs(frozenset().union(*(s.dirs for s in batch)))
        except StoreError as exc:
            return [exc] * len(batch)
        try:
            return self._insert_receipts(batch)
        except (OperationalError, InterfaceError) as exc:
            return [StoreUnavailableError(describe_db_error(exc))] * len(batch)
        except SQLAlchemyError as exc:
            if len(batch) == 1:
                return [StoreUnavailableError(describe_db_error(exc))]
        outcomes: list[InboundView | StoreError] = []
        for staged in batch:
            try:
                outcomes += self._insert_receipts([staged])
            except SQLAlchemyError as exc:
                outcomes.append(StoreUnavailableError(describe_db_error(exc)))
        return outcomes

    def _insert_receipts(self, batch: Sequence[StagedInbound]) -> list[InboundView | StoreError]:
        """One transaction; raises ``SQLAlchemyError`` when it fails as a whole."""
        late = StoreUnavailableError("storage too slow: gave up before commit")
        live = [s for s in batch if not s.expired()]
        # Core on a plain connection: the ORM's bulk insert path cost more CPU than SQLite's work here.
        with self._db.engine.begin() as conn:
            if live:
                put_inline_blobs(conn, {s.sha256: s.inline for s in live if s.inline is not None})
                conn.execute(_INSERT_INBOUND, [s.row() for s in live])
                # Checked after the insert, just before the commit: whoever gave up meanwhile gets no receipt.
                gone = [s.id for s in live if s.expired()]
                if gone:
                    conn.execute(delete(Inbound).where(Inbound.id.in_(gone)))
                    live = [s for s in live if s.id not in gone]
        committed = {s.id for s in live}
        return [s.view() if s.id in committed else late for s in batch]

    def get_inbound(self, inbound_id: str) -> InboundView | None:
        """Return one receipt, or ``None``."""
        # Core, not the ORM: the worker asks once per message, and a session costs ~5x the query here.
        row = self._db.read(lambda conn: conn.execute(_INBOUND_BY_ID, {"inbound_id": inbound_id}).one_or_none())
        return receipt_view(row) if row is not None else None

    def find_inbound_copy(self, sha256: str, submitter: str) -> InboundView | None:
        """The oldest receipt of these exact bytes (by their SHA-256) for this submitter, whatever its source, or
        ``None``: ``mailassist ingest`` and ``POST /api/ingest`` take a copy only once per user."""
        stmt = (
            select(*Inbound.__table__.columns)
            .where(Inbound.sha256 == sha256, Inbound.submitter == submitter)
            .order_by(Inbound.received_at, Inbound.id)
            .limit(1)
        )
        row = self._db.read(lambda conn: conn.execute(stmt).one_or_none())
        return receipt_view(row) if row is not None else None

    def get_inbound_with_raw(self, inbound_id: str) -> tuple[InboundView, bytes | None] | None:
        """One receipt and, while it is ``queued``, its raw bytes if the database holds them (``None``: they are a
        file, or the receipt is done; ``Content.get_blob`` reads either). One query for what the worker asks per
        message."""
        row = self._db.read(lambda conn: conn.execute(_QUEUED_INBOUND, {"inbound_id": inbound_id}).one_or_none())
        if row is None:
            return None
        return receipt_view(row), bytes(row.data) if row.data is not None else None

    def list_inbound(
        self, *, status: str | None = None, limit: int = 100, newest_first: bool = True
    ) -> list[InboundView]:
        """The ingest log, newest first, optionally one status only."""
        return self._db.run(lambda s: list_inbound(s, status=status, limit=limit, newest_first=newest_first))

    def count_inbound_by_status(self, *, cap: int | None = None) -> dict[str, int]:
        """Number of receipts per status (every status present, zero included). With ``cap``, a status with more
        than ``cap`` receipts counts ``cap + 1``: each count stops there, read from the status index, so that a page
        showing them does not count every receipt the gateway ever took."""
        counts = dict.fromkeys(STATUSES, 0)
        if cap is None:
            stmt = select(Inbound.status, func.count()).group_by(Inbound.status)
            with self._db.session() as session:
                counts.update({status: n for status, n in session.execute(stmt)})
            return counts

        def capped(status: str) -> Any:
            some = select(Inbound.id).where(Inbound.status == status).limit(cap + 1).subquery()
            return select(func.count()).select_from(some).scalar_subquery()

        with self._db.session() as session:
            found = session.execute(select(*(capped(status) for status in STATUSES))).one()
        counts.update(zip(STATUSES, (int(n) for n in found), strict=True))
        return counts

    # --- processing --------------------------------------------------------------------------------------

    def list_stale_queued(self, *, older_than: datetime, limit: int = 1000) -> list[str]:
        """Ids of ``queued`` receipts untouched since ``older_than``: the sweeper's work list, oldest first."""
        stmt = (
            select(Inbound.id)
            .where(Inbound.status == "queued", Inbound.updated_at < older_than)
            .order_by(Inbound.updated_at, Inbound.id)
            .limit(limit)
        )
        with self._db.session() as session:
            return list(session.scalars(stmt))

    def mark_processed(
        self, inbound_id: str, status: str, *, reason: str | None = None, outbox: Outbox | None = None
    ) -> bool:
        """Move a ``queued`` receipt to a final status. False when it was not ``queued`` (already processed).
        ``outbox(None)``: webhook deliveries to write in the same transaction, when it moved."""
        if status not in FINAL_STATUSES:
            raise StoreError(f"not a final status: {status!r}")
        now = utcnow()
        stmt = (
            update(Inbound)
            .where(Inbound.id == inbound_id, Inbound.status == "queued")
            .values(status=status, reason=reason, processed_at=now, updated_at=now)
        )

        def mark(session: Session) -> bool:
            moved = _rowcount(session.execute(stmt)) == 1
            if moved and outbox is not None:
                add_deliveries(session, outbox(None))
            return moved

        return self._db.run(mark)

    def mark_attempt_failed(
        self, inbound_id: str, error: str, *, max_attempts: int, outbox: Outbox | None = None
    ) -> str | None:
        """Count a failed attempt; after ``max_attempts`` the receipt becomes ``failed``. Returns the new status.

        ``None`` means the receipt was not ``queued`` (another worker finished it). ``outbox(None)``: webhook
        deliveries to write in the same transaction when it becomes ``failed``.
        """
        now = utcnow()

        def record(session: Session) -> str | None:
            row = session.get(Inbound, inbound_id, with_for_update=True)
            if row is None or row.status != "queued":
                return None
            row.attempts += 1
            row.last_error = error[:MAX_ERROR_LENGTH]
            row.updated_at = now
            if row.attempts >= max_attempts:
                row.status = "failed"
                row.processed_at = now
                if outbox is not None:
                    add_deliveries(session, outbox(None))
            return row.status

        return self._db.run(record)

    def mark_requeued(self, inbound_id: str) -> bool:
        """Put a ``failed`` receipt back to ``queued`` with a fresh attempt count (``mailassist reprocess``)."""
        stmt = (
            update(Inbound)
            .where(Inbound.id == inbound_id, Inbound.status == "failed")
            .values(status="queued", attempts=0, updated_at=utcnow(), processed_at=None)
        )
        return self._db.run(lambda s: _rowcount(s.execute(stmt)) == 1)

    def touch_inbound(self, inbound_ids: Sequence[str]) -> None:
        """Reset the sweeper's clock for receipts that were just (re)sent to the queue."""
        if not inbound_ids:
            return
        stmt = (
            update(Inbound)
            .where(Inbound.id.in_(list(inbound_ids)), Inbound.status == "queued")
            .values(updated_at=utcnow())
        )
        self._db.run(lambda s: s.execute(stmt))
