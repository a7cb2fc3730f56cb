"""Plain, frozen views the repository returns; ORM objects never leave ``store``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    #: The user address the gateway proved submitted it, and what proved it (``None`` before migration 0008).
    submitter: str | None = None
    proof: str | None = None
    #: DKIM, SPF, DMARC and ARC results as the gateway recorded them (``{"source": …, "checks": […]}``).
    auth: dict[str, Any] | None = None
    #: Where it came from: ``smtp``, ``imap:<source name>``, ``api`` or ``file``.
    source: str = "smtp"


@dataclass(frozen=True, slots=True)
class UserRef:
    id: int
    email: str
    name: str
    role: str
    team: str | None


# --- viewer access: logins and API tokens -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginView:
    """A user as the web viewer needs it: who, what they may see, and how they prove it."""

    id: int
    email: str
    name: str
    #: One of ``ROLES``.
    role: str
    team: str | None
    #: The argon2 hash; ``None`` while no password was set (such a user cannot log in, only use tokens).
    password_hash: str | None = field(repr=False)
    #: A session is valid only while it carries this number (logout and a new password add one).
    session_generation: int = 0


@dataclass(frozen=True, slots=True)
class TokenView:
    """An API token as listed: never the token itself, nor its hash."""

    id: int
    user_email: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    scopes: tuple[str, ...] = ("read",)
    #: ``None``: never expires.
    expires_at: datetime | None = None
    #: A service token survives its user's password changes.
    service: bool = False


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a valid bearer token stands for: a user, and what it may do as that user."""

    user: LoginView
    scopes: frozenset[str]


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


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What deleting a directory entry changed in filed mail's derived data (``force``: it was referred to)."""

    #: Links to the entry, removed: the mail stays, filed on whatever else it was filed on.
    links_removed: int = 0
    #: Codes that named a deleted record and wait again (shown under "Unresolved codes").
    codes_unresolved: int = 0
    #: Participants that matched the entry and now match nothing (a relink may match them again).
    participants_unmatched: int = 0
    #: Contacts and records that lost their deleted client; leads that lost their deleted contact.
    detached: int = 0
    #: The deleted entry's own addresses (a contact's), which a relink may now file on something else.
    addresses: tuple[str, ...] = ()


# --- directory lookups: what the linker asks while matching a message -----------------------------------------


@dataclass(frozen=True, slots=True)
class EntityRef:
    """A client (or any entity) known by id, with a label to show."""

    id: int
    label: str


@dataclass(frozen=True, slots=True)
class ContactRef:
    id: int
    name: str
    client_id: int | None
    client_name: str | None


@dataclass(frozen=True, slots=True)
class LeadRef:
    id: int
    address: str
    name: str | None
    company: str | None
    #: Set once an imported contact took the lead's address over (``relink_contacts``).
    converted_contact_id: int | None


@dataclass(frozen=True, slots=True)
class PeopleRefs:
    """What the directory knows about a message's addresses, each map keyed as its ``find_*`` method keys it."""

    contacts: dict[str, ContactRef]
    client_emails: dict[str, EntityRef]
    leads: dict[str, LeadRef]
    #: By domain (the addresses' domains, lower-cased).
    client_domains: dict[str, EntityRef]


@dataclass(frozen=True, slots=True)
class RecordRef:
    id: int
    code: str
    type: str
    title: str
    client_id: int | None
    client_name: str | None


@dataclass(frozen=True, slots=True)
class ThreadLinkRef:
    """A record, client or contact link of a filed message, found by the message's Message-ID."""

    message_id: int
    message_id_header: str
    entity_type: str
    entity_id: int
    label: str


# --- applying a plan: what the linker decided, in store terms ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParticipantWrite:
    role: str
    address: str
    name: str | None
    internal: bool
    match_type: str | None
    match_id: int | None
    match_via: str | None


@dataclass(frozen=True, slots=True)
class LeadWrite:
    address: str
    name: str | None
    company: str | None
    owner_user_id: int | None


@dataclass(frozen=True, slots=True)
class LinkWrite:
    """A link with its reason. A link to a lead this plan creates names it by ``lead_address``, not ``entity_id``."""

    entity_type: str
    reason: str
    entity_id: int | None = None
    lead_address: str | None = None
    #: For reason ``thread``: the filed message it was inherited from.
    from_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class CodeWrite:
    code: str
    #: ``None``: the code is unresolved (no such record).
    record_id: int | None


@dataclass(frozen=True, slots=True)
class AttachmentWrite:
    filename: str | None
    content_type: str
    size: int
    sha256: str
    content_id: str | None
    inline: bool
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class MessageWrite:
    dedupe_key: str
    message_id_header: str | None
    subject: str | None
    date: datetime | None
    from_name: str | None
    from_address: str | None
    direction: str
    kind: str
    submitter_user_id: int | None
    body_text: str | None
    body_html: str | None
    note: str | None
    raw_sha256: str
    participants: tuple[ParticipantWrite, ...] = ()
    links: tuple[LinkWrite, ...] = ()
    new_leads: tuple[LeadWrite, ...] = ()
    codes: tuple[CodeWrite, ...] = ()
    attachments: tuple[AttachmentWrite, ...] = ()
    content_key: str | None = None
    #: The forward chain, outermost level first (``linker.explain.chain_level_json``); ``()`` when there is none.
    chain: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class PlanWrite:
    """The final state of one receipt and, unless it was ignored or failed early, the message it carries."""

    #: One of ``FINAL_STATUSES``.
    status: str
    reason: str | None
    message: MessageWrite | None = None


@dataclass(frozen=True, slots=True)
class ApplyResult:
    #: ``False``: the receipt was not ``queued`` (processed before, or unknown) and nothing changed.
    applied: bool
    #: The message the receipt is filed as; when not applied, what an earlier processing recorded (or ``None``).
    message_id: int | None
    #: ``False`` when an earlier receipt of the same email had created the message.
    message_created: bool
    #: Addresses of the leads this call created (existing leads are reused, not counted).
    leads_created: tuple[str, ...]
    links_added: int


@dataclass(frozen=True, slots=True)
class RelinkResult:
    """What a relink changed: codes that now name a record, leads whose address a contact took over, participants
    that now match a contact or client, and the links that this added, per entity type."""

    codes_resolved: int = 0
    leads_converted: int = 0
    participants_matched: int = 0
    record_links: int = 0
    contact_links: int = 0
    client_links: int = 0

    @property
    def links_added(self) -> int:
        """Links added, of every type."""
        return self.record_links + self.contact_links + self.client_links

    def __add__(self, other: RelinkResult) -> RelinkResult:
        return RelinkResult(*(a + b for a, b in zip(_relink_counts(self), _relink_counts(other), strict=True)))


def _relink_counts(result: RelinkResult) -> tuple[int, ...]:
    return (
        result.codes_resolved,
        result.leads_converted,
        result.participants_matched,
        result.record_links,
        result.contact_links,
        result.client_links,
    )


@dataclass(frozen=True, slots=True)
class RelinkScope:
    """What a directory import changed, so that relinking looks there only: record codes, contact or client
    addresses, client domains (all in their stored form)."""

    codes: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.codes or self.addresses or self.domains)


# --- the read side: what the web viewer shows ---------------------------------------------------------------------

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
class MessageRow:
    id: int
    subject: str | None
    #: The Date header, or when the message was filed if it had none: what the list is sorted by.
    date: datetime
    direction: str
    kind: str
    #: The submitter's name.
    submitter: str | None
    from_name: str | None
    from_address: str | None
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
class ReceiptView:
    """One receipt of a message: when it came, from where and by which route, and what became of it."""

    id: str
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    status: str
    #: The linker's note, e.g. ``submitted by anna@… (via envelope)``.
    reason: str | None
    #: The name of the user who submitted it (as the gateway proved, else owning the envelope sender), if any.
    sender_user: str | None
    #: The submitter's address and what proved it (``secret-address``, ``trusted-relay``, ``dkim``, ``spf``,
    #: ``arc``, ``postmaster``); ``None`` on receipts from before the gateway recorded it.
    submitter: str | None = None
    proof: str | None = None
    #: What vouched (``detail``, ``route``, ``via``) and each DKIM, SPF, DMARC and ARC result (``checks``).
    auth: dict[str, Any] | None = None
    #: Where it came from: ``smtp``, ``imap:<source name>``, ``api`` or ``file``.
    source: str = "smtp"


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
