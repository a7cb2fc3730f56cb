"""Plain, frozen views the repository returns; ORM objects never leave ``store``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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


@dataclass(frozen=True, slots=True)
class UserRef:
    id: int
    email: str
    name: str
    role: str
    team: str | None


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
class RecordRef:
    id: int
    code: str
    type: str
    title: str
    client_id: int | None
    client_name: str | None


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
    leads_converted: int
    links_added: int
