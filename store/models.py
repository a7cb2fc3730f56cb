"""SQLAlchemy 2 typed models. Private to ``store``: the repository returns plain views, never these objects."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

#: Constraint names are deterministic so that migrations can refer to them on both SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware UTC datetimes on every backend (SQLite drops tzinfo otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- directory: who we are, who our clients are -------------------------------------------------------------


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    #: ``all`` sees everything, ``team`` its team's mail, ``own`` only its own.
    role: Mapped[str] = mapped_column(String(8))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    #: SHA-256 of the token in the user's secret assistant address (``assistant+TOKEN@…``); ``None``: none issued.
    assistant_token_hash: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    #: Logout and a new password add one: a session cookie carrying an older number no longer logs anyone in.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The IANA zone the viewer shows this user's times in (``Europe/Warsaw``); ``None``: the browser's, else UTC.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    addresses: Mapped[list[UserAddress]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ApiToken(Base):
    """A bearer token for the JSON API. Only the token's SHA-256 is kept; the token is shown once, at creation."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the token may do, space-separated (``read``, ``ingest``, ``directory``).
    scopes: Mapped[str] = mapped_column(String(200), default="read", server_default="read")
    #: ``None``: the token does not expire.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A service token outlives its user's password changes; any other token is revoked by one.
    service: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class UserAddress(Base):
    """Every address of a user: the primary email (``is_primary``) and its aliases."""

    __tablename__ = "user_addresses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    user: Mapped[User] = relationship(back_populates="addresses")


class Client(Base):
    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    domains: Mapped[list[ClientDomain]] = relationship(back_populates="client", cascade="all, delete-orphan")
    emails: Mapped[list[ClientEmail]] = relationship(back_populates="client", cascade="all, delete-orphan")


class ClientDomain(Base):
    __tablename__ = "client_domains"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    client: Mapped[Client] = relationship(back_populates="domains")


class ClientEmail(Base):
    __tablename__ = "client_emails"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    client: Mapped[Client] = relationship(back_populates="emails")


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    emails: Mapped[list[ContactEmail]] = relationship(back_populates="contact", cascade="all, delete-orphan")


class ContactEmail(Base):
    __tablename__ = "contact_emails"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    contact: Mapped[Contact] = relationship(back_populates="emails")


class Lead(Base):
    """An external address the assistant saw that matched nothing in the directory."""

    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    company: Mapped[str | None] = mapped_column(String(300))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    first_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    converted_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Record(Base):
    """A CRM record (deal, offer, ticket…) that mail can be filed against by its code, e.g. ``OP-123``."""

    __tablename__ = "records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# --- mail: what arrived, and what we made of it ---------------------------------------------------------------


class Inbound(Base):
    """One receipt (by SMTP, IMAP, the API or a file): the ingest log. The raw bytes live in the blob store under
    ``sha256``."""

    __tablename__ = "inbound"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON)
    peer: Mapped[str | None] = mapped_column(String(100))
    helo: Mapped[str | None] = mapped_column(String(255))
    #: The user address the gateway proved this message was submitted by (``None`` on receipts from before 0008).
    submitter: Mapped[str | None] = mapped_column(String(320))
    #: What proved it: ``secret-address``, ``trusted-relay``, ``dkim``, ``spf``, ``arc`` (``gateway.trust``).
    proof: Mapped[str | None] = mapped_column(String(32))
    #: DKIM, SPF, DMARC and ARC results (``gateway.mailauth.AuthResults.to_json``), or ``None`` when not checked.
    auth: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Where it came from: ``smtp``, ``imap:<source name>``, ``api`` (``POST /api/ingest``), ``file``
    #: (``mailassist ingest``) or ``attached:<receipt id>`` (forwarded beside that receipt's original).
    source: Mapped[str] = mapped_column(String(100), default="smtp", server_default="smtp")
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    #: ``queued`` → ``linked`` | ``ignored`` | ``failed``; only ``queued`` rows are ever processed.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: Why it ended ``ignored`` (the rule's name), or a short note for ``linked``.
    reason: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_inbound_status_updated_at", "status", "updated_at"),
        # The ingest log's order and its keyset pages (``store.ingest``); also serves what sorts by time alone.
        Index("ix_inbound_received_at_id", "received_at", "id"),
    )


class InlineBlob(Base):
    """A small blob's bytes, kept in the database (``Store.inline_max``): they commit in the same transaction as
    the row that names them, so one commit makes both durable, where a file costs its own fsync and three
    directory syncs. Larger blobs are files in the blob directory; either way a blob is found by its SHA-256."""

    __tablename__ = "inline_blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Message(Base):
    """One email, deduplicated across receipts by original Message-ID or a normalized content hash."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: Sender, subject and body hashed: finds the same email arriving with and without its Message-ID
    #: (a BCC and an inline forward of it). Not unique: only a near date makes two rows the same email.
    content_key: Mapped[str | None] = mapped_column(String(64), index=True)
    message_id_header: Mapped[str | None] = mapped_column(String(998), index=True)
    subject: Mapped[str | None] = mapped_column(Text)
    date: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    from_name: Mapped[str | None] = mapped_column(String(300))
    from_address: Mapped[str | None] = mapped_column(String(320), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    submitter_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    #: The forward chain it was read from, outermost level first; ``NULL`` when there is none (or before 0014).
    chain: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: ``body_html`` sanitized when filed (``store.safehtml.sanitize_for_storage``); ``NULL`` before revision 0010.
    body_html_safe: Mapped[str | None] = mapped_column(Text)
    #: Remote resources the sanitizer blocked: how many, and their distinct hosts.
    html_blocked: Mapped[int | None] = mapped_column(Integer)
    html_blocked_hosts: Mapped[list[str] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


#: What the message list is sorted by (the Date header, else when it was filed) and its tie-break: keyset pages.
#: SQLite cannot reflect expression indexes, so only PostgreSQL compares this one with the migrations.
Index("ix_messages_sort", func.coalesce(Message.date, Message.created_at), Message.id)


class Participant(Base):
    __tablename__ = "participants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(300))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    match_type: Mapped[str | None] = mapped_column(String(16))
    match_id: Mapped[int | None] = mapped_column(Integer)
    match_via: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        # Who may see a message is read from the addresses in From, To or Cc: the role and message in the index
        # spare a row read per message (store.visibility).
        Index("ix_participants_address_role_message", "address", "role", "message_id"),
    )


class Link(Base):
    """A message filed against a client, contact, lead, record or user, and why."""

    __tablename__ = "links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    #: For reason ``thread``: the filed message the link was inherited from (no foreign key: shown when visible).
    from_message_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("message_id", "entity_type", "entity_id", name="uq_links_message_entity"),
        # With the message id, an entity's mail is counted from the index alone (``store.index_counts``).
        Index("ix_links_entity_message", "entity_type", "entity_id", "message_id"),
        # A timeline's conversations look up each message's thread parent (``store.conversations``); only thread
        # links carry one, so the index holds those alone.
        Index(
            "ix_links_thread",
            "message_id",
            "from_message_id",
            sqlite_where=text("reason = 'thread'"),
            postgresql_where=text("reason = 'thread'"),
        ),
    )


class MessageCode(Base):
    """A record code seen in a subject; ``record_id`` is null while it is unresolved."""

    __tablename__ = "message_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), index=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))

    __table_args__ = (UniqueConstraint("message_id", "code", name="uq_message_codes_message_code"),)


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str | None] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[str | None] = mapped_column(String(500))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)


# --- gateway counters: what never became a row ---------------------------------------------------------------


class SmtpRejection(Base):
    """SMTP refusals per UTC day, reply (e.g. ``550 5.1.1``) and reason (``dkim_not_aligned``), for ``/metrics``:
    refused mail leaves no receipt."""

    __tablename__ = "smtp_rejections"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
