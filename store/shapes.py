"""The store's types: plain, frozen values that cross its boundary (what callers write, what the verbs return);
ORM objects never leave ``store``. The web viewer's page shapes are in ``store.page_shapes``."""

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
class Arrival:
    """A receipt as it arrived: its id, the SMTP envelope, the raw bytes' size and SHA-256. The staged receipt
    (``store.staged.StagedInbound``) and the committed one (``InboundView``) both start with it."""

    id: str
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str | None
    helo: str | None
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class InboundView(Arrival):
    """A committed receipt: how it arrived, and what the linker made of it so far."""

    status: str
    attempts: int
    last_error: str | None
    reason: str | None
    updated_at: datetime
    processed_at: datetime | None
    #: The user address the gateway proved submitted it, and what proved it (``secret-address``,
    #: ``trusted-relay``, ``dkim``, ``spf``, ``arc``, ``postmaster``); ``None`` before migration 0008.
    submitter: str | None = None
    proof: str | None = None
    #: What vouched (``detail``, ``route``, ``via``) and each DKIM, SPF, DMARC and ARC result (``checks``), as the
    #: gateway recorded them.
    auth: dict[str, Any] | None = None
    #: Where it came from: ``smtp``, ``imap:<source name>``, ``api``, ``file`` or ``attached:<receipt id>``.
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
    #: The IANA zone the user's times show in, as set by ``mailassist user set-time-zone``; ``None``: not set.
    time_zone: str | None = None


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
    #: The IANA zone the viewer shows the user's times in (``None``: none, the browser's); written only when
    #: ``sets_time_zone``: a file without the column leaves the zones set by ``user set-time-zone`` as they are.
    time_zone: str | None = None
    sets_time_zone: bool = False

    def __post_init__(self) -> None:
        if self.time_zone is not None and not self.sets_time_zone:
            raise ValueError("UserRow.time_zone is given, but sets_time_zone is False: it would not be written")


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
