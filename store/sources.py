"""Mailbox sources (``[[sources.imap]]``): per source, who polls it (a lease) and how its last poll went; per
(source, folder), the folder's UIDVALIDITY and the highest UID whose message is committed to the intake.

The order that makes a poll safe to kill at any point: a message's receipt commits first
(``Store.receipts.add_inbound``), its UID is recorded after (``record_folder_progress``). A crash in between
fetches it again, and the intake's dedupe (the same bytes from the same submitter) absorbs the copy.
A UIDVALIDITY other than the recorded one starts the folder over (``start_folder``); dedupe absorbs the repeats.

Two pollers never poll the same mailbox: each takes the source's lease (``lease_owner`` and ``lease_until``) by a
conditional update before it polls and renews it as it goes; every write of progress is conditional on still
holding it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.database import Database
from store.models import Base, UTCDateTime, utcnow
from store.rows import from_row

#: What a source is doing, as its poller last said: ``new`` (never polled), ``polling``, ``waiting`` (polled; waits,
#: or IDLEs, for the next poll), ``backoff`` (the last poll failed; retries at ``next_poll_at``), ``stopped``.
SOURCE_STATES = ("new", "polling", "waiting", "backoff", "stopped")
#: ``last_error`` is cut to this many characters.
MAX_SOURCE_ERROR = 1000


class MailSource(Base):
    """One ``[[sources.imap]]`` block by its name: its lease and how its polls go."""

    __tablename__ = "mail_sources"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="new")
    #: The poller holding the source (``host:pid:random``) until ``lease_until``; past it, anyone may take it.
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the last poll ended (whatever its outcome), and the last one that went through.
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Polls failed in a row (the back-off's exponent); 0 after one that went through.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Messages committed as new receipts, every folder together (duplicates not counted).
    messages_taken: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailSourceFolder(Base):
    """How far a source's folder is taken: its UIDVALIDITY and the highest UID committed."""

    __tablename__ = "mail_source_folders"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    folder: Mapped[str] = mapped_column(String(500), primary_key=True)
    #: IMAP UIDVALIDITY (RFC 9051: 32 bits, unsigned); ``None`` before the first poll.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    #: Every message with a UID up to this one is committed (or was refused for good, e.g. not an email).
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    messages_taken: Mapped[int] = mapped_column(BigInteger, default=0)
    #: How often the folder was started over because its UIDVALIDITY changed.
    resets: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class FolderState:
    """Where a folder's poll starts: ``last_uid`` under ``uidvalidity``; ``reset``: the recorded UIDVALIDITY was
    another (or none), so the folder starts over from UID 1."""

    source: str
    folder: str
    uidvalidity: int | None
    last_uid: int
    messages_taken: int
    resets: int
    updated_at: datetime
    reset: bool = False


@dataclass(frozen=True, slots=True)
class SourceStateView:
    """A source's row (``mailassist sources``), with its folders."""

    name: str
    state: str
    lease_owner: str | None
    lease_until: datetime | None
    last_poll_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    next_poll_at: datetime | None
    messages_taken: int
    updated_at: datetime
    folders: tuple[FolderState, ...] = ()

    def leased(self, now: datetime) -> bool:
        """Whether a poller holds the source now."""
        return self.lease_until is not None and self.lease_until > now


def _folder_view(row: MailSourceFolder, *, reset: bool = False) -> FolderState:
    return from_row(FolderState, row, reset=reset)


def _source_view(row: MailSource, folders: tuple[FolderState, ...]) -> SourceStateView:
    return from_row(SourceStateView, row, folders=folders)


def _insert_unless_there(session: Session, table: type[Any], values: dict[str, Any], *key: str) -> None:
    """``INSERT … ON CONFLICT (key) DO NOTHING``: two pollers creating the same row meet here without an error."""
    build = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(build(table).values(values).on_conflict_do_nothing(index_elements=list(key)))


def _held_by(owner: str, now: datetime) -> Any:
    """The source's lease is ``owner``'s and has not run out."""
    return and_(MailSource.lease_owner == owner, MailSource.lease_until >= now)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))


class Sources:
    """The mailbox sources' verbs: leases, folder progress (UIDVALIDITY, last UID) and poll state."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def claim_source(self, name: str, owner: str, *, lease: float) -> bool:
        """Take (or renew) the lease on source ``name`` for ``lease`` seconds: True when ``owner`` holds it now.
        A conditional update, so of two pollers asking at once exactly one gets a source nobody holds."""
        now = utcnow()

        def claim(session: Session) -> bool:
            _insert_unless_there(session, MailSource, {"name": name, "state": "new", "updated_at": now}, "name")
            free = or_(MailSource.lease_owner == owner, MailSource.lease_until.is_(None), MailSource.lease_until < now)
            result = session.execute(
                update(MailSource)
                .where(MailSource.name == name, free)
                .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease), updated_at=now)
            )
            return _rowcount(result) == 1

        taken: bool = self._db.run(claim)
        return taken

    def release_source(self, name: str, owner: str) -> bool:
        """Give the lease up (a poller stopping): the source is ``stopped`` until a poller takes it again."""
        now = utcnow()
        stmt = (
            update(MailSource)
            .where(MailSource.name == name, MailSource.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, state="stopped", next_poll_at=None, updated_at=now)
        )
        released: bool = self._db.run(lambda s: _rowcount(s.execute(stmt)) == 1)
        return released

    def start_folder(self, name: str, folder: str, uidvalidity: int, owner: str) -> FolderState | None:
        """Where ``folder`` of source ``name`` resumes, now that the server says its UIDVALIDITY is ``uidvalidity``.
        A new folder, or one whose recorded UIDVALIDITY is another, starts over (``last_uid`` 0, ``reset``).
        ``None``: ``owner`` no longer holds the source."""
        now = utcnow()

        def start(session: Session) -> FolderState | None:
            if session.scalar(select(MailSource.name).where(MailSource.name == name, _held_by(owner, now))) is None:
                return None
            _insert_unless_there(
                session,
                MailSourceFolder,
                {"source": name, "folder": folder, "uidvalidity": None, "last_uid": 0, "messages_taken": 0,
                 "resets": 0, "updated_at": now},
                "source",
                "folder",
            )  # fmt: skip
            row = session.get(MailSourceFolder, (name, folder), with_for_update=True)
            assert row is not None
            if row.uidvalidity == uidvalidity:
                return _folder_view(row)
            if row.uidvalidity is not None:
                row.resets += 1
            row.uidvalidity = uidvalidity
            row.last_uid = 0
            row.updated_at = now
            session.flush()
            return _folder_view(row, reset=True)

        found: FolderState | None = self._db.run(start)
        return found

    def record_folder_progress(
        self, name: str, folder: str, owner: str, *, uidvalidity: int, last_uid: int, taken: int = 0
    ) -> bool:
        """Record that every message of ``folder`` up to UID ``last_uid`` is committed (``taken`` of them as new
        receipts). Only while ``owner`` holds the source and the folder's UIDVALIDITY is still ``uidvalidity``;
        ``last_uid`` never goes down. False when it was not recorded."""
        now = utcnow()

        def record(session: Session) -> bool:
            if session.scalar(select(MailSource.name).where(MailSource.name == name, _held_by(owner, now))) is None:
                return False
            row = session.get(MailSourceFolder, (name, folder), with_for_update=True)
            if row is None or row.uidvalidity != uidvalidity:
                return False
            row.last_uid = max(row.last_uid, last_uid)
            row.messages_taken += taken
            row.updated_at = now
            if taken:
                session.execute(
                    update(MailSource)
                    .where(MailSource.name == name)
                    .values(messages_taken=MailSource.messages_taken + taken, updated_at=now)
                )
            return True

        recorded: bool = self._db.run(record)
        return recorded

    def record_source_poll(
        self,
        name: str,
        owner: str,
        *,
        state: str,
        error: str | None = None,
        next_poll_at: datetime | None = None,
        finished: bool = False,
    ) -> bool:
        """Note what ``owner``'s poller of ``name`` is doing (``state``, one of ``SOURCE_STATES``). ``finished``: a
        poll ended, with ``error`` (one more failure in a row) or without (the failures start over).
        False when ``owner`` does not hold the source."""
        if state not in SOURCE_STATES:
            raise ValueError(f"unknown source state {state!r}")
        now = utcnow()
        values: dict[str, Any] = {"state": state, "next_poll_at": next_poll_at, "updated_at": now}
        if finished:
            values["last_poll_at"] = now
            if error is None:
                values.update(last_ok_at=now, failures=0)
            else:
                values.update(last_error=error[:MAX_SOURCE_ERROR], last_error_at=now, failures=MailSource.failures + 1)
        stmt = update(MailSource).where(MailSource.name == name, _held_by(owner, now)).values(**values)
        recorded: bool = self._db.run(lambda s: _rowcount(s.execute(stmt)) == 1)
        return recorded

    def get_source_state(self, name: str) -> SourceStateView | None:
        """One source with its folders, or ``None`` before its first poll."""
        states = self.list_source_states(names=[name])
        return states[0] if states else None

    def list_source_states(self, names: list[str] | None = None) -> list[SourceStateView]:
        """Every source the store knows (or those of ``names``), by name, with their folders."""

        def read(session: Session) -> list[SourceStateView]:
            sources = select(MailSource).order_by(MailSource.name)
            folders = select(MailSourceFolder).order_by(MailSourceFolder.source, MailSourceFolder.folder)
            if names is not None:
                sources = sources.where(MailSource.name.in_(names))
                folders = folders.where(MailSourceFolder.source.in_(names))
            by_source: dict[str, list[FolderState]] = {}
            for row in session.scalars(folders):
                by_source.setdefault(row.source, []).append(_folder_view(row))
            return [_source_view(row, tuple(by_source.get(row.name, ()))) for row in session.scalars(sources)]

        found: list[SourceStateView] = self._db.run(read)
        return found
