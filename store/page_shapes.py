"""The store's types for the web viewer's pages: lists, details, the dashboard and the indexes, read through a
``Viewer``'s visibility (``store.queries``). Plain and frozen, like ``store.shapes``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.shapes import EntityRef, InboundView, RecordRef

#: How an email came to the assistant (DESIGN.md, "Classifying a message").
KINDS = ("bcc", "forward", "redirect")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking, and so what they may see (DESIGN.md, "Visibility"); every read verb takes one."""

    user_id: int
    #: One of ``ROLES``; anything else sees no mail at all.
    role: str
    team_id: int | None
    #: The viewer's own addresses (primary and aliases), lower-case.
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """What to list; every field narrows the list further. ``q`` is a full-text search; blank means none."""

    q: str | None = None
    direction: str | None = None
    kind: str | None = None
    #: Mail this user submitted (the message's submitter, or a ``user`` link).
    submitter_id: int | None = None
    #: Inclusive; compared with the message's date (or, without one, when it was filed).
    date_from: datetime | None = None
    #: Exclusive; compared like ``date_from``.
    date_to: datetime | None = None
    #: The client's own mail, its contacts' mail and its records' mail.
    client_id: int | None = None
    contact_id: int | None = None
    lead_id: int | None = None
    record_id: int | None = None
    #: Only mail linked to no client, contact, lead or record.
    unmatched: bool = False
    #: Mail whose subject carried this record code (``OP-123``), resolved or not.
    code: str | None = None


@dataclass(frozen=True, slots=True)
class LinkChip:
    """A link of a message to an entity, and why: ``type`` is ``client``, ``contact``, ``lead``, ``record`` or
    ``user`` (the submitter)."""

    type: str
    id: int
    label: str
    reason: str
    #: For reason ``thread``: the filed message it came from, when the viewer may see that one (else ``None``).
    from_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class MessageHead:
    """A message as a list shows it: what the message list (``MessageRow``) and a conversation
    (``ConversationMessage``) both show of it."""

    id: int
    subject: str | None
    #: The Date header, or when the message was filed if it had none: what the list is sorted by.
    date: datetime
    direction: str
    kind: str
    #: The submitter's name: who filed it.
    submitter: str | None
    from_name: str | None
    from_address: str | None


@dataclass(frozen=True, slots=True)
class MessageRow(MessageHead):
    links: tuple[LinkChip, ...]
    #: Where its receipts came from (``smtp``, ``api``, ``file``, ``imap:NAME``), each once, sorted.
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: tuple[MessageRow, ...]
    #: Pass as ``after`` for the next page; ``None`` on the last page.
    next: str | None


@dataclass(frozen=True, slots=True)
class ParticipantView:
    address: str
    name: str | None
    #: ``from``, ``to`` or ``cc``.
    role: str
    internal: bool
    #: What the address matched (``user``, ``contact``, ``client``, ``lead``), its id and label, and how.
    match_type: str | None
    match_id: int | None
    match_label: str | None
    match_via: str | None


@dataclass(frozen=True, slots=True)
class CodeView:
    code: str
    #: ``None``: unresolved (no record had that code when the message was filed).
    record_id: int | None


@dataclass(frozen=True, slots=True)
class ReceiptView(InboundView):
    """One receipt of a message: when it came, from where and by which route, and what became of it (its
    ``reason``: the linker's note, e.g. ``submitted by anna@… (via envelope)``)."""

    #: The name of the user who submitted it (as the gateway proved, else owning the envelope sender), if any.
    sender_user: str | None = None


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """An attachment's metadata; its bytes are ``store.blobs.get(sha256)``."""

    id: int
    message_id: int
    filename: str | None
    content_type: str
    size: int
    sha256: str
    content_id: str | None
    inline: bool


@dataclass(frozen=True, slots=True)
class MessageDetail:
    id: int
    subject: str | None
    #: The Date header (``None`` without one); ``created_at`` is when it was filed.
    date: datetime | None
    created_at: datetime
    from_name: str | None
    from_address: str | None
    direction: str
    kind: str
    submitter_id: int | None
    submitter: str | None
    note: str | None
    body_text: str | None
    body_text_length: int  #: of the whole text, when ``body_text`` is its first characters only (a page's read)
    #: The original HTML; ``None`` too when a page read the message and ``body_html_safe`` stands in for it
    body_html: str | None
    #: ``body_html`` sanitized when it was filed (``store.safehtml``), or ``None`` (filed before that, or no HTML).
    body_html_safe: str | None
    html_blocked: int  #: remote resources the sanitizer blocked
    html_blocked_hosts: tuple[str, ...]  #: their distinct hosts
    raw_sha256: str
    message_id_header: str | None
    participants: tuple[ParticipantView, ...]
    links: tuple[LinkChip, ...]
    codes: tuple[CodeView, ...]
    receipts: tuple[ReceiptView, ...]
    attachments: tuple[AttachmentRef, ...]
    #: The forward chain it was read from, outermost level first (``messages.chain``); ``()`` when there is none.
    chain: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ClientDetail:
    id: int
    name: str
    domains: tuple[str, ...]
    emails: tuple[str, ...]
    contacts: tuple[EntityRef, ...]
    records: tuple[RecordRef, ...]


@dataclass(frozen=True, slots=True)
class ContactDetail:
    id: int
    name: str
    client: EntityRef | None
    emails: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LeadDetail:
    id: int
    address: str
    name: str | None
    company: str | None
    owner_id: int | None
    owner: str | None
    #: The message the lead was first seen in; ``None`` when the viewer may not see it.
    first_message_id: int | None
    converted_contact: EntityRef | None
    converted_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LeadPage:
    items: tuple[LeadDetail, ...]
    next: str | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Counts for the last 24 hours and 7 days. Inbound counts and failures are for role ``all`` only (else
    ``None``); message counts cover the mail the viewer may see, by when it was filed."""

    inbound_24h: dict[str, int] | None
    inbound_7d: dict[str, int] | None
    messages_24h: dict[str, int]
    messages_7d: dict[str, int]
    leads_24h: int
    leads_7d: int
    #: Distinct unresolved codes in the mail the viewer may see.
    unresolved_codes: int
    #: The newest ``failed`` receipts.
    recent_failures: tuple[InboundView, ...] | None


@dataclass(frozen=True, slots=True)
class UnresolvedCode:
    """A record code seen in mail the viewer may see that names no record yet: in how many messages, the latest
    one's date (its Date header, else when it was filed)."""

    code: str
    messages: int
    latest: datetime | None


# --- directory indexes and the ingest log ---------------------------------------------------------------------

#: What a directory index can be sorted by: name (A to Z), linked mail (most first), last contact (latest first),
#: and, for leads, when the assistant created them (newest first).
INDEX_SORTS = ("name", "count", "last", "new")


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One entry of a directory index, with the mail the viewer may see linked to it: how many, the latest date."""

    id: int
    #: What the index sorts by name: a client's, contact's or user's name, a lead's name (else address), a record's
    #: code.
    label: str
    addresses: tuple[str, ...]
    #: A client's domains.
    domains: tuple[str, ...]
    #: A record's title, a lead's company, a user's email.
    note: str | None
    #: A contact's or record's client, a lead's owner (as ``user``), a lead's contact once converted.
    parent: EntityRef | None
    #: A record's type, a user's role and team.
    tags: tuple[str, ...]
    messages: int
    #: The Date header (else when filed) of the latest visible message; ``None`` without one.
    last: datetime | None
    #: A lead's: when the assistant created it, the message it was first seen in (when the viewer may see that),
    #: and the contact that took its address over.
    created_at: datetime | None = None
    first_message_id: int | None = None
    converted: EntityRef | None = None


@dataclass(frozen=True, slots=True)
class IndexPage:
    items: tuple[IndexRow, ...]
    #: Pass as ``after`` for the next page; ``None`` on the last page.
    next: str | None


@dataclass(frozen=True, slots=True)
class IngestRow:
    """A receipt in the ingest log, with the message it was filed as (its id, subject and sender) when it was."""

    receipt: InboundView
    message_id: int | None
    subject: str | None
    from_name: str | None
    from_address: str | None


@dataclass(frozen=True, slots=True)
class IngestPage:
    """A page of the ingest log, newest first."""

    items: tuple[IngestRow, ...]
    #: Pass as ``after`` for the next page; ``None`` on the last page.
    next: str | None


@dataclass(frozen=True, slots=True)
class ConversationMessage(MessageHead):
    """One message of a conversation as a timeline shows it: who filed it and how, a snippet, its attachments."""

    #: The start of the text body, whitespace collapsed, plain text (``""`` without a text body).
    snippet: str
    #: Attachments, not counting inline parts the HTML body shows (``cid:`` images).
    attachments: int


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A participant (From, To or Cc) of a conversation's messages."""

    address: str
    name: str | None


@dataclass(frozen=True, slots=True)
class Conversation:
    """Messages of a timeline that belong together (``store.conversations``), as the viewer may see them."""

    #: The subject of its oldest message.
    subject: str | None
    #: Its messages in the timeline, shown or not.
    count: int
    #: Its newest message's date: what conversations are sorted by.
    last_date: datetime
    #: From, To and Cc of the shown messages, each address once, at most ``MAX_PEOPLE``.
    participants: tuple[PersonRef, ...]
    #: Its newest messages (at most ``MAX_SHOWN``), oldest first.
    messages: tuple[ConversationMessage, ...]


@dataclass(frozen=True, slots=True)
class ConversationPage:
    items: tuple[Conversation, ...]
    #: Pass as ``after`` for the next page; ``None`` on the last page.
    next: str | None
    #: The timeline holds more messages than are grouped (``MAX_SCAN``): the oldest are in the message list only.
    truncated: bool = False
