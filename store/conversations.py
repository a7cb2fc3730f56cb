"""A timeline as conversations: the messages a filter keeps, grouped by thread, newest conversation first, one keyset
page at a time.

The store keeps no thread id, but two facts tie messages together. A ``thread`` link names the filed message a
reply inherited its links from (``links.from_message_id``, migration 0011); and a reply or forward carries its
original's subject behind ``Re:``, ``AW:``, ``Odp:``, ``Fwd:``… (a reply that matched its client by address got no
thread link, so the subject is what ties most replies to their original). Messages of the timeline join one
conversation when one's thread link names the other, or when their subjects are the same once those prefixes are
stripped and case and whitespace folded. A message with neither is a conversation of its own.

Only the timeline's messages are grouped: those the viewer may see (``store.visibility``) and the filter keeps. A
conversation never reaches through a message the viewer may not see, so it never tells that one exists, and every
count, participant and snippet comes from visible messages only.

Paging: a conversation is known by its newest message, and conversations are sorted by that message's date, then
id, newest first; the cursor is that pair, so a page starts strictly after the previous page's last conversation
(keyset, no OFFSET). Grouping needs the whole timeline, so each page reads it, light (id, subject, thread link), at
most ``MAX_SCAN`` messages, then reads in full only the messages it shows: two more queries whatever the page's size,
the shown messages and their participants.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from store.cursors import before, decode_cursor, encode_cursor
from store.models import Attachment, Link, Message, Participant, User
from store.page_shapes import (
    Conversation,
    ConversationMessage,
    ConversationPage,
    MessageFilter,
    PersonRef,
    Viewer,
)
from store.timeline import conditions, sort_key
from store.visibility import PARTICIPANT_ROLES, visible_few

#: The most messages of one timeline that are grouped; older ones are left to the message list (bounded work).
MAX_SCAN = 20_000
#: The most conversations one page holds; a larger ``limit`` is cut to this.
MAX_CONVERSATIONS = 100
#: The newest messages of a conversation a page shows; the count says how many there are.
MAX_SHOWN = 10
#: Participants listed per conversation.
MAX_PEOPLE = 12
#: Characters of a snippet; the body is read up to ``SNIPPET_READ`` characters to find them.
SNIPPET_CHARS = 160
SNIPPET_READ = 1000
#: Characters of a subject the grouping compares (and a conversation's heading shows).
SUBJECT_READ = 300

#: Reply and forward prefixes mail clients write in the languages our teams and their clients use (English, Polish,
#: Czech, German, Nordic, French, Spanish, Portuguese, Italian, Dutch, Turkish), with a counter (``Re[2]:``,
#: ``RE(3):``) or a space before the colon (French). A prefix is a hint of a reply, not a proof: it only ever joins
#: messages of the same timeline.
_LEAD = re.compile(
    r"(?:\s*(?:(?:re|fwd?|aw|wg|sv|vs|odp|pd|přeposlat|tr|rv|r|res|enc|i|rif|antw|doorst|ynt)"
    r"\s{0,3}(?:\[\d{1,4}\]|\(\d{1,4}\))?\s{0,3}:"
    # …and a list tag or an external-mail warning before or between them (``[EXTERNAL]``, ``[Acme]``).
    r"|\[[^\]]{1,40}\]))+",
    re.IGNORECASE,
)
#: Where the colon of a first prefix is at the latest (``přeposlat``, spaces, ``[1234]``): a subject whose first
#: characters hold no colon and open no tag has no prefix, and skips the regex (most subjects; every page runs this
#: over its whole timeline).
_FIRST_COLON = 22


#: Subject keys remembered (a page reads every subject of its timeline, and the same timeline comes back page
#: after page): as many as one timeline's scan holds.
KEYS_CACHED = 20_000


@functools.lru_cache(maxsize=KEYS_CACHED)
def subject_key(subject: str | None) -> str | None:
    """The subject with every leading reply or forward prefix (and bracketed tag) stripped, case and whitespace
    folded; ``None`` when nothing is left."""
    text = (subject or "")[:SUBJECT_READ].lstrip()
    if text[:1] == "[" or ":" in text[:_FIRST_COLON]:
        lead = _LEAD.match(text)
        if lead is not None:
            text = text[lead.end() :]
    return " ".join(text.split()).casefold() or None


def snippet(body: str | None) -> str:
    """The start of a text body: whitespace collapsed, at most ``SNIPPET_CHARS`` characters, cut at a word with an
    ellipsis when longer."""
    text = " ".join((body or "").split())
    if len(text) <= SNIPPET_CHARS:
        return text
    cut = text[: SNIPPET_CHARS - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > SNIPPET_CHARS // 2 else cut).rstrip() + "…"


@dataclass(slots=True)
class _Group:
    """A conversation of the page while it is being built: its messages' ids, newest first, as the scan met them."""

    members: list[int] = field(default_factory=list)
    oldest_subject: str | None = None


def _participant_condition(person: str | None) -> list[ColumnElement[bool]]:
    if person is None:
        return []
    took_part = select(Participant.message_id).where(
        Participant.address == person, Participant.role.in_(PARTICIPANT_ROLES)
    )
    return [Message.id.in_(took_part)]


def _scan(
    session: Session, viewer: Viewer, f: MessageFilter, person: str | None, cursor: tuple[datetime, int] | None
) -> Sequence[Any]:
    """The timeline, light: id, subject, thread parent of every message and whether it comes after ``cursor``,
    newest first, ``MAX_SCAN`` + 1. No dates: on SQLite, converting thousands of them costs more than the rest."""
    dialect = session.get_bind().dialect.name
    parent = (
        select(func.min(Link.from_message_id))
        .where(Link.message_id == Message.id, Link.reason == "thread", Link.from_message_id.is_not(None))
        .scalar_subquery()
    )
    past = true() if cursor is None else before(sort_key(), Message.id, *cursor)
    stmt = (
        select(Message.id, func.substr(Message.subject, 1, SUBJECT_READ), parent, past)
        .where(visible_few(viewer), *conditions(dialect, f), *_participant_condition(person))
        .order_by(sort_key().desc(), Message.id.desc())
        .limit(MAX_SCAN + 1)
    )
    return session.execute(stmt).all()


def _labels(rows: Sequence[Any]) -> list[str | int]:
    """Each scanned message's conversation, as a label: its subject key (or, without one, its id), labels merged by
    thread links (union-find, only between scanned messages). Thread links are few: most pages never call ``find``.
    """
    labels: list[str | int] = [subject_key(subject) or message_id for message_id, subject, _, _ in rows]
    label_of = {row[0]: label for row, label in zip(rows, labels, strict=True)}
    merged: dict[str | int, str | int] = {}

    def find(label: str | int) -> str | int:
        while (up := merged.get(label, label)) != label:
            merged[label] = merged.get(up, up)
            label = up
        return label

    for message_id, _, parent, _ in rows:
        if parent is not None and parent in label_of:
            mine, theirs = find(label_of[message_id]), find(label_of[parent])
            if mine != theirs:
                merged[mine] = theirs
    return [find(label) for label in labels] if merged else labels


def _page_groups(rows: Sequence[Any], labels: list[str | int], limit: int) -> tuple[list[_Group], bool]:
    """The page's conversations, and whether more follow. Conversations come in the scan's order of their newest
    message, so the page's are the first ``limit`` labels met after the cursor that were not met before it; only
    those are built (the rest of a timeline of thousands costs a pass over the labels)."""
    first_past = next((i for i, row in enumerate(rows) if row[3]), len(rows))
    shown_before = set(labels[:first_past])
    order = [label for label in dict.fromkeys(labels[first_past:]) if label not in shown_before]
    page = {label: _Group() for label in order[:limit]}
    for (message_id, subject, _, _), label in zip(rows, labels, strict=True):
        group = page.get(label)
        if group is not None:
            group.members.append(message_id)
            group.oldest_subject = subject
    return list(page.values()), len(order) > limit


def _shown(session: Session, ids: Sequence[int]) -> dict[int, ConversationMessage]:
    """The messages a page shows, by id: their rows, submitters, snippets and attachment counts, in one query."""
    if not ids:
        return {}
    attachments = (
        select(func.count(Attachment.id))
        .where(Attachment.message_id == Message.id, Attachment.inline.is_(False))
        .scalar_subquery()
    )
    stmt = (
        select(
            Message.id,
            Message.subject,
            sort_key(),
            Message.direction,
            Message.kind,
            User.name,
            Message.from_name,
            Message.from_address,
            func.substr(Message.body_text, 1, SNIPPET_READ),
            attachments,
        )
        .outerjoin(User, User.id == Message.submitter_user_id)
        .where(Message.id.in_(list(ids)))
    )
    shown: dict[int, ConversationMessage] = {}
    for message_id, subject, at, direction, kind, submitter, from_name, from_address, body, files in session.execute(
        stmt
    ):
        shown[message_id] = ConversationMessage(
            message_id, subject, at, direction, kind, submitter, from_name, from_address, snippet(body), files or 0
        )
    return shown


def _people(session: Session, ids: Sequence[int]) -> dict[int, list[PersonRef]]:
    """From, To and Cc of these messages, by message, in one query."""
    if not ids:
        return {}
    stmt = (
        select(Participant.message_id, Participant.address, Participant.name)
        .where(Participant.message_id.in_(list(ids)), Participant.role.in_(PARTICIPANT_ROLES))
        .order_by(Participant.id)
    )
    found: dict[int, list[PersonRef]] = {}
    for message_id, address, name in session.execute(stmt):
        found.setdefault(message_id, []).append(PersonRef(address, name))
    return found


def _conversation(
    group: _Group, shown: dict[int, ConversationMessage], people: dict[int, list[PersonRef]]
) -> Conversation | None:
    """The conversation as the page shows it; ``None`` if its newest message was deleted since the scan."""
    if group.members[0] not in shown:
        return None
    messages = tuple(shown[i] for i in reversed(group.members[:MAX_SHOWN]) if i in shown)
    seen: dict[str, PersonRef] = {}
    for message in messages:
        for ref in people.get(message.id, ()):
            known = seen.get(ref.address)
            if known is None or (known.name is None and ref.name):
                seen[ref.address] = ref
    return Conversation(
        subject=group.oldest_subject,
        count=len(group.members),
        last_date=messages[-1].date,
        participants=tuple(seen.values())[:MAX_PEOPLE],
        messages=messages,
    )


def list_conversations(
    session: Session, viewer: Viewer, f: MessageFilter, *, person: str | None, after: str | None, limit: int
) -> ConversationPage:
    """One page of the conversations of the messages ``viewer`` may see that match ``f`` (and, with ``person``, have
    that address in From, To or Cc), newest conversation first, after the cursor ``after``."""
    limit = max(1, min(limit, MAX_CONVERSATIONS))
    rows = _scan(session, viewer, f, person, None if after is None else decode_cursor("c", after))
    truncated = len(rows) > MAX_SCAN
    rows = rows[:MAX_SCAN]
    page, more = _page_groups(rows, _labels(rows), limit)
    ids = [message_id for group in page for message_id in group.members[:MAX_SHOWN]]
    shown, people = _shown(session, ids), _people(session, ids)
    found = [(group, _conversation(group, shown, people)) for group in page]
    items = tuple(c for _, c in found if c is not None)
    cursor = None
    if more and items:
        last = next(group for group, c in reversed(found) if c is not None)
        cursor = encode_cursor("c", items[-1].last_date, last.members[0])
    return ConversationPage(items=items, next=cursor, truncated=truncated)
