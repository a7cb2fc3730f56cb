"""The repository: a short list of verbs over the database and the blob store.

``store.inbound`` is the incoming queue. A receipt is added (blob fsync'd, row committed) before the gateway
answers 250, and leaves ``queued`` exactly once, by a conditional update.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Row, Select, and_, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store import db
from store.apply import put_attachments, put_inline_blobs, sanitize_plan_html, validate_plan, write_plan
from store.auth import AuthVerbs
from store.blobs import BlobStore
from store.directory import DirectoryVerbs
from store.errors import StoreError, StoreUnavailableError, describe_db_error
from store.ids import new_inbound_id
from store.metrics import MetricsVerbs
from store.models import Inbound, InlineBlob, utcnow
from store.queries import QueryVerbs
from store.refile import list_shared_messages, refile_message, rekey_message
from store.relink import BATCH, Progress, count_relink, relink
from store.repair import RepairResult, repair_addresses, repair_names
from store.sources import SourceVerbs
from store.views import FINAL_STATUSES, STATUSES, ApplyResult, InboundView, PlanWrite, RelinkResult, RelinkScope
from store.webhooks import Outbox, WebhookVerbs, add_deliveries

T = TypeVar("T")

#: ``last_error`` is cut to this many characters; the full traceback goes to the log.
MAX_ERROR_LENGTH = 4000

#: Blobs (raw messages, attachments) of up to this many bytes are kept in the database by default: they commit
#: with their row, where a file costs an fsync of its own and three directory syncs (``bench/smtp_intake.py``).
INLINE_MAX = 64 * 1024


_INBOUND_BY_ID = select(*Inbound.__table__.columns).where(Inbound.id == bindparam("inbound_id"))
#: A receipt with its raw bytes, when they are in the database and it is still ``queued`` (the worker's first read).
_QUEUED_INBOUND: Select[Any] = (
    select(*Inbound.__table__.columns, InlineBlob.data)
    .outerjoin(InlineBlob, and_(InlineBlob.sha256 == Inbound.sha256, Inbound.status == "queued"))
    .where(Inbound.id == bindparam("inbound_id"))
)
_INSERT_INBOUND = insert(Inbound)
#: In a forked child (``Store.after_fork``): the parent's connection pools, never closed here.
_INHERITED_POOLS: list[object] = []

#: PostgreSQL: this transaction's commit returns before its WAL reaches the disk (it may be lost in a server crash,
#: never half-applied).
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
_INLINE_BLOB = select(InlineBlob.data).where(InlineBlob.sha256 == bindparam("sha256"))
_HAS_INLINE_BLOB = select(InlineBlob.sha256).where(InlineBlob.sha256 == bindparam("sha256"))


def _view(row: Inbound | Row[Any]) -> InboundView:
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


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))


class Store(DirectoryVerbs, AuthVerbs, QueryVerbs, MetricsVerbs, WebhookVerbs, SourceVerbs):
    """Database plus blob directory, opened once per process."""

    def __init__(
        self,
        url: str,
        blob_dir: str | os.PathLike[str],
        *,
        connect_timeout: float = 5.0,
        inline_max: int = INLINE_MAX,
    ) -> None:
        self.url = url
        #: Blobs up to this size live in the database (``InlineBlob``), larger ones as files; 0: all files.
        self.inline_max = inline_max
        self.engine: Engine = db.make_engine(url, connect_timeout=connect_timeout)
        #: Where linking results are written (``apply_plan``). A lost one is redone (its receipt is still
        #: ``queued``, and the sweeper re-sends it), so its commit need not wait for the disk: on SQLite a second
        #: pool whose connections do not fsync each commit (the file's own fsync'd commits, the intake's, carry
        #: them to disk too); on PostgreSQL the same pool, with an asynchronous commit per transaction.
        self.linking_engine: Engine = (
            db.make_engine(url, connect_timeout=connect_timeout, durable=False)
            if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:")
            else self.engine
        )
        self.blobs = BlobStore(blob_dir)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._linking_sessions = sessionmaker(self.linking_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """Whether this is the embedded SQLite store."""
        return self.engine.dialect.name == "sqlite"

    def open(self, *, upgrade: bool | None = None) -> None:
        """Prepare blobs and check the schema; SQLite (or ``upgrade=True``) migrates itself instead."""
        try:
            self.blobs.open()
            if upgrade if upgrade is not None else self.is_sqlite:
                db.upgrade(self.engine)
            else:
                db.check_schema(self.engine)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release pooled connections and threads."""
        self.engine.dispose()
        if self.linking_engine is not self.engine:
            self.linking_engine.dispose()
        self.blobs.close()

    @contextmanager
    def _session(self, sessions: sessionmaker[Session] | None = None) -> Iterator[Session]:
        try:
            with (sessions or self._sessions)() as session:
                yield session
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(describe_db_error(exc)) from exc

    def _run(self, fn: Callable[[Session], T]) -> T:
        with self._session() as session, session.begin():
            return fn(session)

    def _run_redoable(self, fn: Callable[[Session], T]) -> T:
        """``_run`` for writes that are redone if lost (see ``linking_engine``): committed without waiting for the
        disk. Atomic all the same: after a crash the transaction is there entirely or not at all."""
        with self._session(self._linking_sessions) as session, session.begin():
            if self.linking_engine.dialect.name == "postgresql":
                session.execute(_ASYNC_COMMIT)
            return fn(session)

    # --- intake ------------------------------------------------------------------------------------------

    def add_inbound(
        self,
        raw: bytes,
        *,
        mail_from: str,
        rcpt_tos: Sequence[str],
        peer: str | None = None,
        helo: str | None = None,
        deadline: float | None = None,
        trust: Trust | None = None,
        source: str = "smtp",
    ) -> InboundView:
        """Make ``raw`` durable and commit a ``queued`` receipt for it. Raises ``StoreError`` on any failure.

        ``deadline`` (``time.monotonic()``) is checked just before the commit: a caller that has given up
        waiting (and told the client 451) gets a rollback rather than a receipt nobody was told about.
        """
        staged = self.stage_inbound(
            raw,
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            peer=peer,
            helo=helo,
            deadline=deadline,
            trust=trust,
            source=source,
        )
        (outcome,) = self.add_inbound_batch([staged])
        if isinstance(outcome, StoreError):
            raise outcome
        return outcome

    def stage_inbound(
        self,
        raw: bytes,
        *,
        mail_from: str,
        rcpt_tos: Sequence[str],
        peer: str | None = None,
        helo: str | None = None,
        deadline: float | None = None,
        trust: Trust | None = None,
        source: str = "smtp",
    ) -> StagedInbound:
        """First half of ``add_inbound``: write the blob (its bytes fsync'd) and prepare the receipt, but commit
        nothing. ``add_inbound_batch`` finishes many of these with one directory sync pass and one transaction.
        A message of up to ``inline_max`` bytes is not written here: its bytes commit with its row."""
        if len(raw) <= self.inline_max:
            sha256, dirs, inline = hashlib.sha256(raw).hexdigest(), frozenset[Path](), raw
        else:
            written = self.blobs.write(raw)
            sha256, dirs, inline = written.sha256, written.dirs, None
        now = utcnow()
        return StagedInbound(
            id=new_inbound_id(),
            received_at=now,
            mail_from=mail_from,
            rcpt_tos=tuple(rcpt_tos),
            # What a client says in HELO has no length limit we can rely on: keep what the columns hold.
            peer=_clip(peer, Inbound.peer),
            helo=_clip(helo, Inbound.helo),
            size=len(raw),
            sha256=sha256,
            dirs=dirs,
            deadline=deadline,
            inline=inline,
            trust=trust,
            source=_clip(source, Inbound.source) or "smtp",
        )

    def after_fork(self) -> None:
        """In a forked child: new connections for this process. The parent's pooled ones are kept referenced and
        never used or closed here (closing SQLite's copy in a child is undefined; a PostgreSQL one would log the
        parent's session out)."""
        for engine in {self.engine, self.linking_engine}:
            _INHERITED_POOLS.append(engine.pool)
            engine.dispose(close=False)

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
            self.blobs.sync_dirs(frozenset().union(*(s.dirs for s in batch)))
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
        with self.engine.begin() as conn:
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
        row = self._read(lambda conn: conn.execute(_INBOUND_BY_ID, {"inbound_id": inbound_id}).one_or_none())
        return _view(row) if row is not None else None

    def find_inbound_copy(self, sha256: str, submitter: str) -> InboundView | None:
        """The oldest receipt of these exact bytes (by their SHA-256) for this submitter, whatever its source, or
        ``None``: ``mailassist ingest`` and ``POST /api/ingest`` take a copy only once per user."""
        stmt = (
            select(*Inbound.__table__.columns)
            .where(Inbound.sha256 == sha256, Inbound.submitter == submitter)
            .order_by(Inbound.received_at, Inbound.id)
            .limit(1)
        )
        row = self._read(lambda conn: conn.execute(stmt).one_or_none())
        return _view(row) if row is not None else None

    def get_inbound_with_raw(self, inbound_id: str) -> tuple[InboundView, bytes | None] | None:
        """One receipt and, while it is ``queued``, its raw bytes if the database holds them (``None``: they are a
        file, or the receipt is done; ``get_raw`` reads either). One query for what the worker asks per message."""
        row = self._read(lambda conn: conn.execute(_QUEUED_INBOUND, {"inbound_id": inbound_id}).one_or_none())
        if row is None:
            return None
        return _view(row), bytes(row.data) if row.data is not None else None

    def get_raw(self, sha256: str) -> bytes:
        """Return the raw message bytes stored under ``sha256``."""
        return self.get_blob(sha256)

    def get_blob(self, sha256: str) -> bytes:
        """Return a blob's bytes (a raw message or an attachment), from the database or the blob directory;
        raise ``BlobNotFoundError`` when neither has it."""
        data = self._inline_blob(_INLINE_BLOB, sha256)
        return bytes(data) if data is not None else self.blobs.get(sha256)

    def has_blob(self, sha256: str) -> bool:
        """Whether a blob with this hash is stored (in the database or as a file)."""
        return self._inline_blob(_HAS_INLINE_BLOB, sha256) is not None or self.blobs.exists(sha256)

    def _inline_blob(self, query: Any, sha256: str) -> Any:
        """``query``'s one value for this hash in ``inline_blobs``, or ``None``."""
        return self._read(lambda conn: conn.scalar(query, {"sha256": sha256}))

    def list_inbound(
        self, *, status: str | None = None, limit: int = 100, newest_first: bool = True
    ) -> list[InboundView]:
        """The ingest log, newest first, optionally one status only."""
        if status is not None and status not in STATUSES:
            raise StoreError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
        stmt = select(Inbound)
        if status is not None:
            stmt = stmt.where(Inbound.status == status)
        order = (Inbound.received_at.desc(), Inbound.id.desc()) if newest_first else (Inbound.received_at, Inbound.id)
        stmt = stmt.order_by(*order).limit(limit)
        with self._session() as session:
            return [_view(r) for r in session.scalars(stmt)]

    def count_inbound_by_status(self) -> dict[str, int]:
        """Number of receipts per status (every status present, zero included)."""
        stmt = select(Inbound.status, func.count()).group_by(Inbound.status)
        counts = dict.fromkeys(STATUSES, 0)
        with self._session() as session:
            counts.update({status: n for status, n in session.execute(stmt)})
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
        with self._session() as session:
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

        return self._run(mark)

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

        return self._run(record)

    def mark_requeued(self, inbound_id: str) -> bool:
        """Put a ``failed`` receipt back to ``queued`` with a fresh attempt count (``mailassist reprocess``)."""
        stmt = (
            update(Inbound)
            .where(Inbound.id == inbound_id, Inbound.status == "failed")
            .values(status="queued", attempts=0, updated_at=utcnow(), processed_at=None)
        )
        return self._run(lambda s: _rowcount(s.execute(stmt)) == 1)

    def touch_inbound(self, inbound_ids: Sequence[str]) -> None:
        """Reset the sweeper's clock for receipts that were just (re)sent to the queue."""
        if not inbound_ids:
            return
        stmt = (
            update(Inbound)
            .where(Inbound.id.in_(list(inbound_ids)), Inbound.status == "queued")
            .values(updated_at=utcnow())
        )
        self._run(lambda s: s.execute(stmt))

    def apply_plan(self, inbound_id: str, plan: PlanWrite, *, outbox: Outbox | None = None) -> ApplyResult:
        """File a ``queued`` receipt as the plan says, in one transaction; ``applied=False`` if it was not queued.
        ``outbox(result)``: webhook deliveries to write in that transaction, when it applied."""
        validate_plan(plan)
        inline = put_attachments(self.blobs, plan, inline_max=self.inline_max)
        safe_html = sanitize_plan_html(plan)

        def apply(session: Session) -> ApplyResult:
            result = write_plan(session, inbound_id, plan, safe_html)
            # Last, and only by the receipt that wrote the attachment rows: two workers filing the same email
            # must meet first on the message's own insert, where one wins (a shared blob key would queue them).
            if result.message_created:
                put_inline_blobs(session.connection(), inline)
            if result.applied and outbox is not None:
                add_deliveries(session, outbox(result))
            return result

        return self._run_redoable(apply)

    def relink(
        self,
        scope: RelinkScope | None = None,
        *,
        free_mail_domains: Iterable[str],
        batch: int = BATCH,
        progress: Progress | None = None,
    ) -> RelinkResult:
        """File past mail on what today's directory says (``store.relink``): codes that now name a record, leads
        that became contacts, participants that now match a contact or client. ``scope``: only what an import
        changed; ``None``: everything. ``batch`` rows per transaction; ``progress`` is told each batch's rows."""
        return relink(self._run, scope, free_mail_domains=free_mail_domains, batch=batch, progress=progress)

    def count_relink(self, scope: RelinkScope | None = None) -> int:
        """The rows ``relink(scope)`` will examine: the length of its progress bar."""
        return count_relink(self._run, scope)

    def list_shared_messages(self, *, limit: int = 1_000_000) -> dict[int, list[str]]:
        """Emails filed from more than one receipt, with their receipt ids (``store.refile``)."""
        return self._run(lambda session: list_shared_messages(session, limit=limit))

    def refile_message(self, message_id: int) -> list[str]:
        """Delete an email that merged different emails and queue its receipts again; their ids."""
        return self._run(lambda session: refile_message(session, message_id))

    def rekey_message(self, message_id: int, dedupe_key: str, content_key: str | None) -> bool:
        """Give an email today's dedupe and content keys; False when another email has that dedupe key."""
        return self._run(lambda session: rekey_message(session, message_id, dedupe_key, content_key))

    def repair_names(self, decode: Callable[[str], str]) -> int:
        """Decode RFC 2047 words still in stored names and subjects (``store.repair``); how many values changed."""
        return self._run(lambda session: repair_names(session, decode))

    def repair_addresses(self, address: Callable[[str], str], domain: Callable[[str], str]) -> RepairResult:
        """Put stored addresses and domains that are not ASCII in their matching form (``store.repair``)."""
        dialect = self.engine.dialect.name
        return self._run(lambda session: repair_addresses(session, address, domain, dialect=dialect))

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` unless the database answers."""
        self._run(lambda s: s.execute(select(1)).scalar_one())


def _clip(value: str | None, column: Any) -> str | None:
    """``value`` cut to the length of the String ``column`` (an over-long value fails the insert on PostgreSQL)."""
    length = _column_length(column)
    return value[:length] if value is not None and length else value


@functools.cache
def _column_length(column: Any) -> int | None:
    # Read through the ORM attribute once per column, not once per message (it cost ~20 us a call at intake)
    length: int | None = getattr(column.type, "length", None)
    return length
