"""Threading: what a reply inherits from the filed messages its In-Reply-To and References name.

A reply inherits their records, clients and contacts, each link with reason ``thread`` and the filed message it
came from, so a client who answers from a private address that matches nothing (``jan.k@gmail.test``) still
lands on the client's timeline, and a reply that lost its code still lands on the deal.

**Only from messages the submitter may see** (``store.visibility``: role ``all`` everything; ``team`` what the
team submitted or is addressed in; ``own`` what the user submitted or is addressed in). A Message-ID is no secret
and a References header is whatever the sender wrote: the only fact about a message that nobody can forge is who
submitted it (the gateway proved it). So the rule depends on the submitter alone. Inheriting from any message it
names would let a forged ``References: <someone else's confidential message>`` pull the reply onto that message's
client and tell whoever sees the reply which client it was about. "Shares a participant with this message" is no
better: the author of this message chose its To and Cc, so they could name a colleague or the client's address to
make the overlap. A message the submitter may see tells them nothing new, however its Message-ID was obtained.
The legitimate case is served: the filed message is the submitter's own (they sent or received it, or filed it),
or their team's.

Bounded: at most ``MAX_THREAD_IDS`` Message-IDs are looked up (In-Reply-To first, then References from the newest,
where the messages this one answers are), and at most ``MAX_THREAD_LINKS`` links come back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from linker.directory import ThreadLinkInfo
from linker.model import EntityType, Link

#: Message-IDs of a thread looked up per message. References may list hundreds (each reply adds one).
MAX_THREAD_IDS = 50
#: Links a message inherits from its thread, at most.
MAX_THREAD_LINKS = 200
#: A Message-ID longer than this cannot be a filed message's (``messages.message_id_header`` holds 998).
MAX_MESSAGE_ID = 998

_TYPES: dict[str, EntityType] = {"record": "record", "client": "client", "contact": "contact"}


def thread_keys(in_reply_to: Iterable[str], references: Sequence[str]) -> tuple[str, ...]:
    """The Message-IDs to look up, each once: In-Reply-To, then References newest first, at most
    ``MAX_THREAD_IDS``."""
    keys: dict[str, None] = {}
    for mid in (*in_reply_to, *reversed(references)):
        if len(keys) >= MAX_THREAD_IDS:
            break
        if mid and len(mid) <= MAX_MESSAGE_ID:
            keys.setdefault(mid, None)
    return tuple(keys)


def thread_links(found: Sequence[ThreadLinkInfo], keys: Sequence[str]) -> list[Link]:
    """One ``thread`` link per record, client and contact, from the first of ``keys`` that gives it (the message
    this one answers before older ones), naming that filed message."""
    rank = {key: i for i, key in enumerate(keys)}
    ordered = sorted(found, key=lambda f: (rank.get(f.message_id_header, len(rank)), f.message_id))
    links: dict[tuple[str, int], Link] = {}
    for row in ordered:
        kind = _TYPES.get(row.entity_type)
        if kind is None:
            continue
        links.setdefault(
            (kind, row.entity_id),
            Link(kind, row.entity_id, row.label, "thread", row.message_id, row.message_id_header),
        )
    return list(links.values())
