"""The linker's data: frozen dataclasses passed between the pipeline's steps. No behaviour, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Kind = Literal["bcc", "forward", "redirect"]
Direction = Literal["incoming", "outgoing"]
Decision = Literal["accept", "reject", "ignore"]
EntityType = Literal["client", "contact", "lead", "record", "user"]
#: Why a message is linked to an entity.
LinkReason = Literal["code", "address", "domain", "thread", "new-lead", "submitter"]
#: ``chain``: someone on a deeper level of a forward chain, or in the mail a reply quotes. Only ``from``, ``to``
#: and ``cc`` make a message someone's to see (``store.visibility``): a colleague quoted three levels down does not
#: get to read the note a salesperson wrote above the chain.
Role = Literal["from", "to", "cc", "reply-to", "sender", "chain"]
#: How a chain level is carried: a ``message/rfc822`` part, an inline block, or quoted by a reply.
ChainHow = Literal["attached", "inline", "quoted"]
QuoteKind = Literal["forward", "reply"]


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A display name and an address, as written; either may be missing (``"Jan Novák"`` alone, say)."""

    name: str | None
    address: str | None


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int
    sha256: str
    content_id: str | None
    inline: bool
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """One message as the parser read it. Header values are decoded (RFC 2047) text."""

    headers: tuple[tuple[str, str], ...]
    from_: tuple[Mailbox, ...]
    sender: Mailbox | None
    to: tuple[Mailbox, ...]
    cc: tuple[Mailbox, ...]
    reply_to: tuple[Mailbox, ...]
    date: datetime | None
    subject: str | None
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    #: The best plain-text body (text/plain, else text derived from the HTML), or ``None``.
    text: str | None
    html: str | None
    attachments: tuple[Attachment, ...]
    #: Raw bytes of each ``message/rfc822`` part, outermost first (attached forwards).
    attached_messages: tuple[bytes, ...]
    #: ``multipart/report``: a bounce, delivery or read receipt, abuse report. Never a forward.
    is_report: bool
    #: ``"flanker"``, or ``"email"`` when flanker failed and the stdlib parser read it.
    parser: str
    #: What went wrong on the way (flanker's error before the fallback, undecodable parts…).
    defects: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def header_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        lowered = name.lower()
        return [v for k, v in self.headers if k.lower() == lowered]


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """The header fields every message inside another shows (a forwarded block, a chain level, the original)."""

    from_: Mailbox | None
    to: tuple[Mailbox, ...]
    cc: tuple[Mailbox, ...]
    date: datetime | None
    subject: str | None


@dataclass(frozen=True, slots=True)
class InlineForward(HeaderFields):
    """A forwarded message found in a body: the header block's fields, the text below it, and the note above."""

    note: str | None
    #: The date as the mail client wrote it (localized); ``date`` is it parsed, when possible.
    date_text: str | None
    body: str
    #: ``forward``, or ``reply`` for a quoted reply (``On … wrote:``, Outlook's block under ``RE:``).
    kind: QuoteKind = "forward"
    #: The client format of the block (``gmail``, ``outlook``, ``apple-mail``, ``thunderbird``, ``yahoo``,
    #: ``attribution``…), as far as its separator tells.
    style: str | None = None
    #: The block's subject as written, forward prefixes and all (``FW: x``): it decides what the next level is.
    subject_as_written: str | None = None


@dataclass(frozen=True, slots=True)
class ChainLevel(HeaderFields):
    """One message inside another, outermost first: a forwarded one, or the message a reply quotes (``quoted``).

    ``forwarded_by``, ``forwarded_at`` and ``forward_subject`` are the message that carries it (the outer message
    for the first level); the header fields and ``message_id`` are the level's own header block."""

    how: ChainHow
    style: str | None
    forwarded_by: Mailbox | None
    forwarded_at: datetime | None
    forward_subject: str | None
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Original(HeaderFields):
    """The email the message is about: itself (BCC, redirect) or the forwarded one (forward)."""

    message_id: str | None
    body: str | None
    html: str | None
    note: str | None
    #: ``None``, ``"inline"`` or ``"attached"``.
    forwarded: str | None = None
    #: Message-IDs this email answers, for threading: In-Reply-To, then References newest first, capped
    #: (``threads.thread_keys``).
    thread_ids: tuple[str, ...] = ()
    #: Every forward level around and inside it, outermost first, and a quoted reply at the bottom if any.
    chain: tuple[ChainLevel, ...] = ()


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    type: str
    record_id: int | None
    label: str | None

    @property
    def resolved(self) -> bool:
        return self.record_id is not None


@dataclass(frozen=True, slots=True)
class Match:
    type: EntityType
    id: int
    label: str
    #: ``contact``, ``client-email``, ``lead``, ``client-domain``, ``user``…
    via: str


@dataclass(frozen=True, slots=True)
class Participant:
    address: str
    name: str | None
    role: Role
    internal: bool
    match: Match | None


@dataclass(frozen=True, slots=True)
class Link:
    type: EntityType
    #: ``None`` for a lead this plan creates (it has no id yet; ``label`` is its address).
    id: int | None
    label: str
    reason: LinkReason
    #: For reason ``thread``: the filed message the link was inherited from, by id in the store…
    thread_message: int | None = None
    #: …and by its Message-ID.
    thread_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewLead:
    address: str
    name: str | None
    company: str | None


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """Everything the pipeline decided about one message; ``store.apply`` carries it out in one transaction."""

    decision: Decision
    reason: str
    kind: Kind | None
    direction: Direction | None
    submitter: str | None
    submitter_user_id: int | None
    original: Original | None
    codes: tuple[Code, ...]
    participants: tuple[Participant, ...]
    links: tuple[Link, ...]
    new_leads: tuple[NewLead, ...]
    dedupe_key: str | None
    attachments: tuple[Attachment, ...] = ()
    content_key: str | None = None
    parser: str | None = None
    #: Further messages forwarded with the original as attachments of the same mail (Outlook's forward of several
    #: selected items): each is an email of its own, which the actor files from a receipt of its own. At most
    #: ``MAX_ALSO_ATTACHED``, in the order they are attached.
    also_attached: tuple[bytes, ...] = ()
