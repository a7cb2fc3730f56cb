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
(keyset, no OFFSET). Grouping needs the whole timeline, so each page reads it, light (id, date, subject, thread
link), at most ``MAX_SCAN`` messages, then reads in full only the messages it shows. Three more queries per page
whatever its size: the shown messages, their participants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from store.cursors import decode_cursor, encode_cursor
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
from store.visibility import PARTICIPANT_ROLES, visible

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
_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|aw|wg|sv|vs|odp|pd|přeposlat|tr|rv|r|res|enc|i|rif|antw|doorst|ynt)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*:\s*",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")
#: A list tag or an external-mail warning at the start of a subject (``[EXTERNAL]``, ``[Acme]``).
_TAG = re.compile(r"^\s*\[[^\]]{1,40}\]\s*")


def subject_key(subject: str | None) -> str | None:
    """The subject with every leading reply or forward prefix (and bracketed tag) stripped, case and whitespace
    folded; ``None`` when nothing is left."""
    text = (subject or "")[:SUBJECT_READ]
    while True:
        stripped = _TAG.sub("", _PREFIX.sub("", text, count=1), count=1)
        if stripped == text:
            break
        text = stripped
    folded = _SPACE.sub(" ", text).strip().casefold()
    return folded or None


def snippet(body: str | None) -> str:
    """The start of a text body: whitespace collapsed, at most ``SNIPPET_CHARS`` characters, cut at a word with an
    ellipsis when longer."""
    text = _SPACE.sub(" ", body or "").strip()
    if len(text) <= SNIPPET_CHARS:
        return text
    cut = text[: SNIPPET_CHARS - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > SNIPPET_CHARS // 2 else cut).rstrip() + "…"


@dataclass(slots=True)
class _Group:
    """A conversation while it is being built: its messages' ids and dates, newest first, as the scan met them."""

    members: list[tuple[int, datetime]] = field(default_factory=list)
    oldest_subject: str | None = None


def _participant_condition(person: str | None) -> list[ColumnElement[bool]]:
    if person is None:
        return []
    took_part = select(Participant.message_id).where(
        Participant.address == person, Participant.role.in_(PARTICIPANT_ROLES)
    )
    return [Message.id.in_(took_part)]


def _scan(session: Session, viewer: Viewer, f: MessageFilter, person: str | None) -> Sequence[Any]:
    """The timeline, light: id, date, subject and thread parent of every message, newest first, ``MAX_SCAN`` + 1."""
    dialect = session.get_bind().dialect.name
    parent = (
        select(func.min(Link.from_message_id))
        .where(Link.message_id == Message.id, Link.reason == "thread", Link.from_message_id.is_not(None))
        .scalar_subquery()
    )
    stmt = (
        select(Message.id, sort_key().label("sort"), func.substr(Message.subject, 1, SUBJECT_READ), parent)
        .where(visible(viewer), *conditions(dialect, f), *_participant_condition(person))
        .order_by(sort_key().desc(), Message.id.desc())
        .limit(MAX_SCAN + 1)
    )
    return session.execute(stmt).all()


def _group(rows: Iterable[Any]) -> list[_Group]:
    """The scanned messages as conversations, in the scan's order of their newest message (union-find over thread
    links and subject keys, both only between scanned messages)."""
    rows = list(rows)
    root: dict[int, int] = {row[0]: row[0] for row in rows}

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    first_of_subject: dict[str, int] = {}
    for message_id, _, subject, parent in rows:
        if parent is not None and parent in root:
            root[find(message_id)] = find(parent)
        key = subject_key(subject)
        if key is not None:
            other = first_of_subject.setdefault(key, message_id)
            root[find(message_id)] = find(other)
    groups: dict[int, _Group] = {}
    for message_id, at, subject, _ in rows:
        group = groups.setdefault(find(message_id), _Group())
        group.members.append((message_id, at))
        group.oldest_subject = subject
    return list(groups.values())


def _page_of(groups: list[_Group], after: str | None, limit: int) -> tuple[list[_Group], str | None]:
    """The conversations after the cursor ``after`` (newest message strictly older), at most ``limit``, and the
    next page's cursor."""
    start = 0
    if after is not None:
        at, last_id = decode_cursor("c", after)
        start = next(
            (i for i, g in enumerate(groups) if (g.members[0][1], g.members[0][0]) < (at, last_id)), len(groups)
        )
    page = groups[start : start + limit]
    more = start + limit < len(groups)
    return page, encode_cursor("c", page[-1].members[0][1], page[-1].members[0][0]) if more else None


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
) -> Conversation:
    newest = [message_id for message_id, _ in group.members[:MAX_SHOWN]]
    messages = tuple(shown[i] for i in reversed(newest) if i in shown)
    seen: dict[str, PersonRef] = {}
    for message in messages:
        for ref in people.get(message.id, ()):
            known = seen.get(ref.address)
            if known is None or (known.name is None and ref.name):
                seen[ref.address] = ref
    return Conversation(
        subject=group.oldest_subject,
        count=len(group.members),
        last_date=group.members[0][1],
        participants=tuple(seen.values())[:MAX_PEOPLE],
        messages=messages,
    )


def list_conversations(
    session: Session, viewer: Viewer, f: MessageFilter, *, person: str | None, after: str | None, limit: int
) -> ConversationPage:
    """One page of the conversations of the messages ``viewer`` may see that match ``f`` (and, with ``person``, have
    that address in From, To or Cc), newest conversation first, after the cursor ``after``."""
    limit = max(1, min(limit, MAX_CONVERSATIONS))
    rows = _scan(session, viewer, f, person)
    truncated = len(rows) > MAX_SCAN
    page, cursor = _page_of(_group(rows[:MAX_SCAN]), after, limit)
    ids = [message_id for group in page for message_id, _ in group.members[:MAX_SHOWN]]
    shown, people = _shown(session, ids), _people(session, ids)
    items = tuple(_conversation(group, shown, people) for group in page)
    return ConversationPage(items=items, next=cursor, truncated=truncated)
