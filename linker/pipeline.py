"""The linker pipeline: parse → classify → unwrap → codes → match → plan. Composition only; no I/O of its own.

The same function serves the queue actor and ``mailassist explain``; the directory is the only way out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from linker.budget import cpu_budget
from linker.classify import (
    Submission,
    classify,
    find_automation,
    find_submission,
    proven_submission,
    sender_header_of,
)
from linker.codes import extract_codes
from linker.directory import Directory, MemoryDirectory, UserInfo
from linker.forwards.subject import strip_forward_prefix
from linker.match import Lookups, is_internal, link_records, lookup_addresses, match_people, people, unique_links
from linker.model import (
    Code,
    Decision,
    Direction,
    Kind,
    Link,
    LinkPlan,
    NewLead,
    Original,
    ParsedMessage,
    Participant,
)
from linker.parse import parse_message
from linker.settings import LinkerSettings
from linker.submitter import POSTMASTER, lookup_keys, submitter_candidates
from linker.threads import MAX_THREAD_LINKS, thread_links
from linker.unwrap import level_people, original_of, read_chain


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope the gateway recorded (empty for ``explain`` on a file), and who it proved submitted it."""

    mail_from: str = ""
    rcpt_tos: tuple[str, ...] = ()
    #: The user address the gateway proved (``gateway.trust``); ``None`` on receipts from before it did, and for
    #: ``explain`` on a file: the submitter is then read from the envelope and headers.
    submitter: str | None = None
    #: What proved it: ``secret-address``, ``trusted-relay``, ``dkim``, ``spf``, ``arc``, or ``postmaster``.
    proof: str | None = None


def default_settings() -> LinkerSettings:
    """Settings for evaluating files with no config: no users, codes or domains known."""
    return LinkerSettings.build()


class _Users:
    """User lookups for one message, cached, so unwrapping nested forwards asks only about new addresses."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.known: dict[str, UserInfo] = {}
        self.asked: set[str] = set()

    def load(self, addresses: Iterable[str]) -> dict[str, UserInfo]:
        missing = {a for a in addresses if a not in self.asked}
        if missing:
            self.asked |= missing
            self.known.update(self.directory.find_users_by_addresses(missing))
        return self.known


#: Participants recorded per message (From, To and Cc, in that order), and leads one message may create.
MAX_PARTICIPANTS = 500
MAX_NEW_LEADS = 50
#: Messages forwarded together as attachments that become receipts of their own (the first is this one's
#: original); the rest stay in the raw message, as attachments.
MAX_ALSO_ATTACHED = 20

#: Bodies shorter than this (in letters and digits) say too little ("OK", "Thanks") to identify an email.
MIN_CONTENT = 40


def _recipients(original: Original) -> str:
    """The To and Cc addresses, lower case, sorted, once each: the same words to other people are another email."""
    addresses = {m.address.strip().lower() for m in (*original.to, *original.cc) if m.address}
    return ",".join(sorted(addresses))


def _letters(text: str | None) -> str:
    """Letters and digits only (``\\w``): whitespace, quoting marks and re-wrapped lines differ between clients.

    ASCII characters that are no letter are dropped from the UTF-8 bytes first, by one ``bytes.translate``; the
    regular expression then only sees what is left, when that is not ASCII. One ``re.sub`` over the whole text
    made a replacement per run of punctuation: megabytes of short quoted lines took a second."""
    folded = (text or "").casefold().encode("utf-8", "surrogatepass").translate(None, _ASCII_NOT_LETTERS)
    letters = folded.decode("utf-8", "surrogatepass")
    return letters if letters.isascii() else _NOT_LETTERS.sub("", letters)


_NOT_LETTERS = re.compile(r"\W+")
#: The ASCII characters ``\\W`` matches: all but letters, digits and ``_``.
_ASCII_NOT_LETTERS = bytes(c for c in range(128) if not (chr(c).isalnum() or chr(c) == "_"))


def _first_letters(text: str | None, count: int) -> str:
    """``_letters(text)[:count]``, reading only as much of ``text`` as that takes (casefolding and dropping
    non-letters work character by character, so the letters of a prefix are a prefix of the letters)."""
    text = text or ""
    size = 4 * count
    while True:
        letters = _letters(text[:size]) if size < len(text) else _letters(text)
        if len(letters) >= count or size >= len(text):
            return letters[:count]
        size *= 4


def content_key(original: Original) -> str | None:
    """Sender, recipients, subject and body, hashed the way they survive re-quoting by another mail client;
    ``None`` when there is too little to go on. Finds one email arriving with and without its Message-ID."""
    sender = (original.from_.address or "").lower() if original.from_ else ""
    subject = _letters(strip_forward_prefix(original.subject or ""))
    body = _first_letters(original.body, 2000)
    if not sender or len(body) < MIN_CONTENT:
        return None
    return hashlib.sha256("\x00".join((sender, _recipients(original), subject, body)).encode()).hexdigest()


#: A Message-ID longer than this is hashed in the dedupe key (``messages.dedupe_key`` holds 200 characters).
MAX_KEY_MESSAGE_ID = 120


def dedupe_key(original: Original) -> str:
    """The email's identity: its Message-ID *and* its content (sender, recipients, subject, the whole body), so a
    copy merges with a filed email only when it is the same email. A Message-ID is no secret (References and
    In-Reply-To spread it): someone else's mail under it is another email, never a copy. Without a Message-ID:
    the content and the date (to the minute)."""
    sender = (original.from_.address or "").lower() if original.from_ else ""
    subject = _letters(strip_forward_prefix(original.subject or ""))
    content = "\x00".join((sender, _recipients(original), subject, _letters(original.body)))
    if original.message_id:
        mid = original.message_id.strip().strip("<>").lower()
        if len(mid) > MAX_KEY_MESSAGE_ID:
            mid = hashlib.sha256(mid.encode()).hexdigest()[:40]
        return f"mid:{mid}#{hashlib.sha256(content.encode()).hexdigest()[:32]}"
    date = original.date.strftime("%Y-%m-%dT%H:%M") if original.date else ""
    return "sha:" + hashlib.sha256(f"{content}\x00{date}".encode()).hexdigest()[:40]


def _resolve_codes(found: list[tuple[str, str]], lookups: Lookups) -> tuple[Code, ...]:
    codes = []
    for code, record_type in found:
        record = lookups.records.get(code)
        codes.append(Code(code, record_type, record.id if record else None, record.code if record else None))
    return tuple(codes)


def run_pipeline(
    raw: bytes, *, envelope: Envelope, settings: LinkerSettings, directory: Directory | None = None
) -> LinkPlan:
    """Decide everything about one message. Raises ``UnreadableMessageError`` when it cannot be parsed."""
    directory = directory if directory is not None else MemoryDirectory()
    with cpu_budget(settings.cpu_limit):
        message = parse_message(raw)
        return plan_message(message, envelope=envelope, settings=settings, directory=directory)


def plan_message(
    message: ParsedMessage, *, envelope: Envelope, settings: LinkerSettings, directory: Directory
) -> LinkPlan:
    """The pipeline after parsing (exposed for tests that build messages directly)."""
    users = _Users(directory)
    submission = _find_submitter(message, envelope, users)
    kind, direction, original = _unwrap(message, submission, users, settings)
    # Every level of a forward chain (and the message a reply quotes) takes part, after the original's own people
    sources = (original, *level_people(original))
    found_codes = extract_codes([original.subject, message.subject], settings.codes)
    lookups = _look_up(sources, found_codes, submission=submission, users=users, directory=directory, settings=settings)
    automation = find_automation(message, kind, original, parse=parse_message, settings=settings)
    participants, person_links, new_leads = _match_sources(
        sources, lookups, settings, automated=automation.leads is not None
    )
    decision, reason = _decide(
        submission, original, settings, envelope, automated=automation.message, people=participants
    )
    # Fan-out is bounded: one mail to 5,000 addresses must not make 5,000 leads. The first ones (in header order)
    # are kept; the rest stay in the raw message, unmatched.
    participants = participants[:MAX_PARTICIPANTS]
    new_leads = new_leads[:MAX_NEW_LEADS] if decision == "accept" else []
    codes = _resolve_codes(found_codes, lookups)
    links = _plan_links(codes, person_links, new_leads, lookups=lookups, original=original, submission=submission)
    return LinkPlan(
        decision=decision,
        reason=reason,
        kind=kind,
        direction=direction,
        submitter=submission.address if submission else None,
        submitter_user_id=submission.user.id if submission else None,
        original=original,
        codes=codes,
        participants=tuple(participants),
        links=links,
        new_leads=tuple(new_leads),
        dedupe_key=dedupe_key(original),
        content_key=content_key(original),
        attachments=message.attachments,
        parser=message.parser,
        also_attached=_also_attached(message, original) if decision == "accept" and kind == "forward" else (),
    )


def _also_attached(message: ParsedMessage, original: Original) -> tuple[bytes, ...]:
    """The messages attached beside the one the forward's original came from, when the submitter's own mail
    forwarded by attachment (its first level) and attached more than one: Outlook's forward of several selected
    items. A bounce or receipt quotes one message and forwards none."""
    if message.is_report or len(message.attached_messages) < 2 or not original.chain:
        return ()
    if original.chain[0].how != "attached":
        return ()  # the text forwarded a message inline: the attachments are that forward's files
    return message.attached_messages[1 : 1 + MAX_ALSO_ATTACHED]


def _find_submitter(message: ParsedMessage, envelope: Envelope, users: _Users) -> Submission | None:
    """The user the message came in for: the one the gateway proved, else the one the envelope and headers name."""
    if envelope.submitter is not None:
        # The gateway proved who submitted it: the headers may say otherwise (a secret address beats From).
        return proven_submission(envelope.submitter, envelope.proof, users.load([envelope.submitter]))
    candidates = submitter_candidates(envelope.mail_from, message.header_all)
    return find_submission(candidates, users.load(lookup_keys(candidates)))


def _unwrap(
    message: ParsedMessage, submission: Submission | None, users: _Users, settings: LinkerSettings
) -> tuple[Kind, Direction, Original]:
    """The message's kind and direction, and the email it is about: the forwarded original of a forward, else the
    message itself (with the chain it carries)."""

    def internal(address: str) -> bool:
        normalized = settings.normalize(address)
        return is_internal(normalized, users.load([normalized]), settings)

    chain = read_chain(message, parse=parse_message, is_internal=internal)
    forwarded = chain.original
    on_behalf = sender_header_of(message, settings)
    if on_behalf is not None:
        users.load([on_behalf])  # classify asks whether the user sent it for the mailbox in From
    kind, direction = classify(message, forwarded, submission, users=users.known, settings=settings)
    original = forwarded if kind == "forward" and forwarded is not None else original_of(message, chain=chain.levels)
    return kind, direction, original


def _look_up(
    sources: tuple[Original, ...],
    found_codes: list[tuple[str, str]],
    *,
    submission: Submission | None,
    users: _Users,
    directory: Directory,
    settings: LinkerSettings,
) -> Lookups:
    """Everything the directory knows about the sources' people (the original first, then its chain's levels), the
    codes and the original's thread: one batch per question."""
    original = sources[0]
    addresses = [address for source in sources for _role, _mailbox, address in people(source, settings)]
    found = directory.find_people(lookup_addresses(addresses))
    return Lookups(
        users=users.load(addresses),
        people=found,
        records=directory.find_records_by_codes([code for code, _type in found_codes]) if found_codes else {},
        thread=directory.find_thread_links(original.thread_ids, user_id=submission.user.id, limit=MAX_THREAD_LINKS)
        if original.thread_ids and submission is not None
        else (),
    )


def _plan_links(
    codes: tuple[Code, ...],
    person_links: list[Link],
    new_leads: list[NewLead],
    *,
    lookups: Lookups,
    original: Original,
    submission: Submission | None,
) -> tuple[Link, ...]:
    """The plan's links, most specific reason first, each entity once."""
    thread = thread_links(lookups.thread, original.thread_ids)
    # A thread's client or contact comes after those the addresses give: its reason is the weaker one.
    links: list[Link] = [*link_records(codes, thread), *person_links, *(k for k in thread if k.type != "record")]
    if submission is not None:
        links.append(Link("user", submission.user.id, submission.user.name, "submitter"))
    links += [Link("lead", None, lead.address, "new-lead") for lead in new_leads]
    return unique_links(links)


def _match_sources(
    sources: tuple[Original, ...], lookups: Lookups, settings: LinkerSettings, *, automated: bool
) -> tuple[list[Participant], list[Link], list[NewLead]]:
    """``match_people`` over the original and its chain's levels: each address once, as it first appears; the
    levels' people with the role ``chain``."""
    participants: list[Participant] = []
    links: list[Link] = []
    leads: list[NewLead] = []
    seen: set[str] = set()
    for level, source in enumerate(sources):
        found, found_links, found_leads = match_people(source, lookups, settings, automated=automated)
        if level:
            found = [dataclasses.replace(p, role="chain") for p in found]
        participants += [p for p in found if p.address not in seen]
        leads += [lead for lead in found_leads if lead.address not in seen]
        links += found_links
        seen.update(p.address for p in found)
    return participants, links, leads


def _decide(
    submission: Submission | None,
    original: Original,
    settings: LinkerSettings,
    envelope: Envelope,
    *,
    automated: str | None,
    people: list[Participant],
) -> tuple[Decision, str]:
    if envelope.proof == POSTMASTER:
        return "ignore", "mail to postmaster (RFC 5321 §4.5.1): kept for admins, never filed"
    if submission is None:
        return "reject", "no registered user sent or received this message"
    sender = settings.normalize(original.from_.address) if original.from_ and original.from_.address else None
    rule = settings.ignore_rule_for(sender, original.subject)
    if rule is not None:
        return "ignore", f"ignore rule '{rule.name}'"
    if automated is not None and settings.automated == "ignore":
        return "ignore", f"automated: {automated}"
    if people and all(p.internal for p in people) and settings.internal == "ignore":
        return "ignore", "internal only: no participant outside the organisation"
    return "accept", f"submitted by {submission.address} (via {submission.via})"
