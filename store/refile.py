"""Taking apart emails that merged copies of different emails, so their receipts are filed again, each as itself.

Before copies had to be the same email to merge (dedupe key = Message-ID *and* content), mail under a reused
Message-ID, or the same template sent to other people, was filed into one email with everything its copies
brought. ``mailassist reprocess --split-merged`` finds such emails (its receipts no longer agree on one dedupe
key) and refiles them: the email and what hangs off it (participants, links, codes, attachment rows) are deleted,
its receipts go back to ``queued``, and the worker files each again. Receipts, raw messages and leads stay.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from store.index_counts import message_keys, recount
from store.models import Inbound, Lead, Message, utcnow


def list_shared_messages(session: Session, *, limit: int) -> dict[int, list[str]]:
    """Emails filed from more than one receipt, each with its receipts' ids (oldest first)."""
    shared = (
        select(Inbound.message_id)
        .where(Inbound.message_id.is_not(None))
        .group_by(Inbound.message_id)
        .having(func.count() > 1)
        .order_by(Inbound.message_id)
        .limit(limit)
        .subquery()
    )
    rows = session.execute(
        select(Inbound.message_id, Inbound.id)
        .where(Inbound.message_id.in_(select(shared.c.message_id)))
        .order_by(Inbound.message_id, Inbound.received_at, Inbound.id)
    ).all()
    out: dict[int, list[str]] = {}
    for message_id, inbound_id in rows:
        if message_id is not None:
            out.setdefault(message_id, []).append(inbound_id)
    return out


def refile_message(session: Session, message_id: int) -> list[str]:
    """Delete one email and put its receipts back in the queue; their ids, for the caller to process."""
    receipts = list(session.scalars(select(Inbound.id).where(Inbound.message_id == message_id).order_by(Inbound.id)))
    now = utcnow()
    session.execute(
        update(Inbound)
        .where(Inbound.message_id == message_id)
        .values(
            message_id=None,
            status="queued",
            attempts=0,
            reason=None,
            last_error=None,
            processed_at=None,
            updated_at=now,
        )
    )
    session.execute(update(Lead).where(Lead.first_message_id == message_id).values(first_message_id=None))
    # Participants, links, codes and attachment rows go with it (ON DELETE CASCADE); the blobs stay.
    counted = message_keys(session, [message_id]).get(message_id, set())
    session.execute(delete(Message).where(Message.id == message_id))
    recount(session, counted)
    return receipts


def rekey_message(session: Session, message_id: int, dedupe_key: str, content_key: str | None) -> bool:
    """Give an email the keys of today's rule, so later copies of it find it; False when another email has that
    dedupe key already (then they are the same email, filed twice before: both stay)."""
    taken = session.scalar(select(Message.id).where(Message.dedupe_key == dedupe_key, Message.id != message_id))
    if taken is not None:
        return False
    session.execute(
        update(Message).where(Message.id == message_id).values(dedupe_key=dedupe_key, content_key=content_key)
    )
    return True
