"""Carrying out the linker's plan for one receipt: one transaction, idempotent per receipt and per email.

A receipt is processed only while ``queued``: a conditional update claims it (and holds its row lock, or SQLite's
write lock) until commit. The email is found by dedupe key or created; leads by address. When two workers create
the same email or lead at once, one insert wins and the other's ``ON CONFLICT DO NOTHING`` skips, so it reads and
uses the winner's row.
Links are unioned across receipts; everything else about an email is written once, by its first receipt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.blobs import BlobStore
from store.bulk import chunks
from store.errors import PlanError
from store.index_counts import count_added, message_entries, message_keys
from store.models import Attachment, Inbound, InlineBlob, Lead, Link, Message, MessageCode, Participant, utcnow
from store.safehtml import SanitizedHtml, sanitize_for_storage
from store.search import index_on_sqlite
from store.shapes import FINAL_STATUSES, ApplyResult, LeadWrite, LinkWrite, MessageWrite, PlanWrite
from store.team_mail import hold_people, kept_teams, refresh

log = structlog.get_logger("store")

#: The columns a link is unique on; a link already there is skipped, not an error.
LINK_KEY = ("message_id", "entity_type", "entity_id")

# Statements built once and run on the session's connection: built per call, and run through the ORM, they cost
# several times what SQLite takes to execute them (this is the worker's hot path).
_CLAIM = (
    update(Inbound)
    .where(Inbound.id == bindparam("inbound_id"), Inbound.status == "queued")
    .values(updated_at=bindparam("now"))
)
_DONE = update(Inbound).where(Inbound.id == bindparam("inbound_id"))
_FILED_AS = select(Inbound.message_id).where(Inbound.id == bindparam("inbound_id"))
_BY_DEDUPE_KEY = select(Message.id).where(Message.dedupe_key == bindparam("key"))
#: The email by its dedupe key, and those with its content (``_same_email`` picks), in one statement.
_SAME_EMAIL = (
    select(Message.id, Message.dedupe_key, Message.date)
    .where(or_(Message.dedupe_key == bindparam("key"), Message.content_key == bindparam("content_key")))
    .order_by(Message.id)
)
_LEADS_BY_ADDRESS = select(Lead.address, Lead.id).where(Lead.address.in_(bindparam("keys", expanding=True)))
_LEAD_BY_ADDRESS = select(Lead.id).where(Lead.address == bindparam("address"))
_INSERT_PARTICIPANTS = insert(Participant)
_INSERT_CODES = insert(MessageCode)
_INSERT_ATTACHMENTS = insert(Attachment)


def _insert_unless_there(dialect: str, table: type[Any], *key: str) -> Any:
    """``INSERT … ON CONFLICT (key) DO NOTHING``: a row another transaction committed first is skipped, with no
    exception (so no savepoint to roll back to)."""
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return build(table).on_conflict_do_nothing(index_elements=key)


def _insert_or_skip(dialect: str, table: type[Any], *key: str) -> Any:
    """``_insert_unless_there … RETURNING id``: when the row was skipped, the caller reads the winner's id."""
    return _insert_unless_there(dialect, table, *key).returning(table.id)


#: Per dialect: statements built once, so SQLAlchemy compiles each once per process instead of once a message.
_INSERT_OR_SKIP = {
    dialect: {
        "message": _insert_or_skip(dialect, Message, "dedupe_key"),
        "lead": _insert_or_skip(dialect, Lead, "address"),
        "link": _insert_or_skip(dialect, Link, *LINK_KEY),
    }
    for dialect in ("sqlite", "postgresql")
}

#: Per dialect: a small blob by its hash; one already stored is left as it is (same hash, same bytes).
_INSERT_INLINE_BLOB = {
    dialect: _insert_unless_there(dialect, InlineBlob, "sha256") for dialect in ("sqlite", "postgresql")
}


def put_inline_blobs(conn: Connection, blobs: Mapping[str, bytes]) -> None:
    """Store small blobs (SHA-256 → bytes) in the database, inside the caller's transaction."""
    if blobs:
        conn.execute(_INSERT_INLINE_BLOB[conn.dialect.name], [{"sha256": k, "data": v} for k, v in blobs.items()])


def validate_plan(plan: PlanWrite) -> None:
    """Raise ``PlanError`` unless the plan can be carried out as written."""
    if plan.status not in FINAL_STATUSES:
        raise PlanError(f"not a final status: {plan.status!r}")
    if plan.message is None:
        return
    new_leads = {lead.address for lead in plan.message.new_leads}
    for link in plan.message.links:
        if (link.entity_id is None) == (link.lead_address is None):
            raise PlanError(f"a {link.entity_type} link needs exactly one of entity_id and lead_address")
        if link.lead_address is not None and link.entity_type != "lead":
            raise PlanError(f"a {link.entity_type} link cannot name a lead address")
        if link.lead_address is not None and link.lead_address not in new_leads:
            raise PlanError(f"link to lead {link.lead_address!r}, which the plan does not create")


def put_attachments(blobs: BlobStore, plan: PlanWrite, *, inline_max: int = 0) -> dict[str, bytes]:
    """Store the plan's attachment bytes; content-addressed, so safe to do before (and outside) the transaction.

    Attachments of up to ``inline_max`` bytes are returned (SHA-256 → bytes) for ``put_inline_blobs`` to commit
    with the plan. Larger ones become files here, each fsync'd as written, their directories in one pass."""
    written = []
    inline: dict[str, bytes] = {}
    for attachment in plan.message.attachments if plan.message is not None else ():
        data = attachment.data
        if len(data) <= inline_max:
            digest = hashlib.sha256(data).hexdigest()
            inline[digest] = data
        else:
            blob = blobs.write(data)
            digest = blob.sha256
            written.append(blob)
        if digest != attachment.sha256:
            raise PlanError(f"attachment {attachment.filename!r}: its sha256 is {digest}, not {attachment.sha256}")
    if written:
        blobs.sync_dirs(frozenset().union(*(blob.dirs for blob in written)))
    return inline


def sanitize_plan_html(plan: PlanWrite) -> SanitizedHtml | None:
    """The plan's HTML body, sanitized for keeping (CPU work: before, and outside, the transaction)."""
    m = plan.message
    if m is None or not m.body_html:
        return None
    return sanitize_for_storage(m.body_html, (a.content_id for a in m.attachments))


def write_plan(session: Session, inbound_id: str, plan: PlanWrite, safe_html: SanitizedHtml | None) -> ApplyResult:
    """Carry out a validated plan inside the caller's transaction; ``safe_html`` is ``sanitize_plan_html(plan)``."""
    now = utcnow()
    conn = session.connection()
    if not _claim(conn, inbound_id, now):
        done = conn.scalar(_FILED_AS, {"inbound_id": inbound_id})
        return ApplyResult(applied=False, message_id=done, message_created=False, leads_created=(), links_added=0)
    result = ApplyResult(applied=True, message_id=None, message_created=False, leads_created=(), links_added=0)
    if plan.message is not None:
        result = _file_message(session, plan.message, safe_html)
    conn.execute(
        _DONE,
        {
            "inbound_id": inbound_id,
            "status": plan.status,
            "reason": plan.reason,
            "processed_at": now,
            "updated_at": now,
            "message_id": result.message_id,
        },
    )
    return result


def _file_message(session: Session, m: MessageWrite, safe_html: SanitizedHtml | None) -> ApplyResult:
    """Find or create the email, its leads and its links."""
    message_id, created = _message(session, m, safe_html)
    if created:
        _contents(session, message_id, m)
    lead_ids, leads_created = _leads(session, message_id, m.new_leads)
    links_added = _links(session, message_id, m.links, lead_ids, created=created)
    return ApplyResult(
        applied=True,
        message_id=message_id,
        message_created=created,
        leads_created=leads_created,
        links_added=links_added,
    )


def add_links(session: Session, rows: list[dict[str, Any]], *, new_message: int | None = None) -> int:
    """Insert those links (dicts of ``links`` columns) that are not there yet; how many were added. The kept index
    counts (``store.index_counts``) gain what the links bring, and the teams' mail (``store.team_mail``) what a
    new message or user link brings. ``new_message``: the rows' message was created in
    this transaction, so it counted nowhere before (not even under its submitter), with or without rows.

    ``ON CONFLICT DO NOTHING`` rather than a check first: a link a concurrent receipt adds is skipped, not an error.
    """
    ids = {row["message_id"] for row in rows} | ({new_message} if new_message is not None else set())
    if not ids:
        return 0
    new = new_message is not None
    hold_people(session)  # before the messages' rows are locked (see there)
    before = {} if new else message_keys(session, ids, lock=True)
    conn = session.connection()
    stmt = _INSERT_OR_SKIP[conn.dialect.name]["link"]
    added = sum(len(conn.execute(stmt, chunk).all()) for chunk in chunks(rows))
    if added or new:
        after = message_entries(session, ids)
        if new or any(row["entity_type"] == "user" for row in rows):
            teams = refresh(session, ids, after.sent, new=new)
        else:  # which teams see a message changes only with its user links (participants are written once)
            teams = (seen := kept_teams(session, ids), seen)
        count_added(session, before, after, teams)
    return added


def _claim(conn: Connection, inbound_id: str, now: datetime) -> bool:
    """Take a ``queued`` receipt for this transaction. A second worker waits here, then finds it processed."""
    return int(getattr(conn.execute(_CLAIM, {"inbound_id": inbound_id, "now": now}), "rowcount", 0)) == 1


#: How far apart two dates may be for one email seen twice (inline forwards often lose the time zone).
SAME_EMAIL_WINDOW = timedelta(hours=26)


def _find_message(session: Session, dedupe_key: str) -> int | None:
    found: int | None = session.connection().scalar(_BY_DEDUPE_KEY, {"key": dedupe_key})
    return found


def _same_email(session: Session, m: MessageWrite) -> int | None:
    """The email filed under this dedupe key; else one filed under another key (with or without Message-ID) with
    this content and a near date."""
    rows = session.connection().execute(_SAME_EMAIL, {"key": m.dedupe_key, "content_key": m.content_key}).all()
    by_key = next((i for i, key, _date in rows if key == m.dedupe_key), None)
    if by_key is not None or m.content_key is None or m.date is None:
        return by_key
    near = m.date
    return next((i for i, _key, date in rows if date is not None and abs(date - near) <= SAME_EMAIL_WINDOW), None)


def _message(session: Session, m: MessageWrite, safe_html: SanitizedHtml | None) -> tuple[int, bool]:
    """The email's id, found by dedupe key (or content and date) or created now; and whether it was created."""
    found = _same_email(session, m)
    if found is not None:
        return found, False
    values = {
        "dedupe_key": m.dedupe_key,
        "content_key": m.content_key,
        "message_id_header": m.message_id_header,
        "subject": m.subject,
        "date": m.date,
        "from_name": m.from_name,
        "from_address": m.from_address,
        "direction": m.direction,
        "kind": m.kind,
        "submitter_user_id": m.submitter_user_id,
        "body_text": m.body_text,
        "body_html": m.body_html,
        "body_html_safe": safe_html.html if safe_html is not None else None,
        "html_blocked": safe_html.blocked if safe_html is not None else None,
        "html_blocked_hosts": list(safe_html.blocked_hosts) if safe_html is not None else None,
        "note": m.note,
        "chain": list(m.chain) or None,
        "raw_sha256": m.raw_sha256,
    }
    conn = session.connection()
    created: int | None = conn.execute(_INSERT_OR_SKIP[conn.dialect.name]["message"], values).scalar()
    if created is not None:
        if m.message_id_header is not None:
            _note_collision(conn, created, m.message_id_header)
        return created, True
    # Another receipt of this email (a BCC and a forward arriving together) committed it first.
    found = _find_message(session, m.dedupe_key)
    if found is None:
        raise PlanError(f"message {m.dedupe_key!r} was neither inserted nor found")
    return found, False


_OTHER_WITH_MESSAGE_ID = (
    select(Message.id)
    .where(Message.message_id_header == bindparam("mid"), Message.id != bindparam("new"))
    .order_by(Message.id)
    .limit(1)
)


def _note_collision(conn: Connection, message_id: int, message_id_header: str) -> None:
    """Log a new email whose Message-ID an earlier, different email has (``/metrics`` counts them): someone reused
    it, by mistake or to get at that email; it was filed apart."""
    other = conn.scalar(_OTHER_WITH_MESSAGE_ID, {"mid": message_id_header, "new": message_id})
    if other is not None:
        log.warning(
            "message-id collision: filed as a new email", message_id=message_id, earlier=other, header=message_id_header
        )


def _contents(session: Session, message_id: int, m: MessageWrite) -> None:
    """Participants, codes and attachments: written once, by the receipt that created the message."""
    conn = session.connection()
    if m.participants:
        conn.execute(
            _INSERT_PARTICIPANTS,
            [
                {
                    "message_id": message_id,
                    "role": p.role,
                    "address": p.address,
                    "name": p.name,
                    "internal": p.internal,
                    "match_type": p.match_type,
                    "match_id": p.match_id,
                    "match_via": p.match_via,
                }
                for p in m.participants
            ],
        )
    if conn.dialect.name == "sqlite":  # PostgreSQL's triggers index the message (see store.search)
        people = [(m.from_address, m.from_name), *((p.address, p.name) for p in m.participants)]
        index_on_sqlite(conn, message_id, subject=m.subject, body_text=m.body_text, addresses=people)
    codes = {c.code: c.record_id for c in reversed(m.codes)}
    if codes:
        conn.execute(
            _INSERT_CODES,
            [{"message_id": message_id, "code": code, "record_id": rid} for code, rid in sorted(codes.items())],
        )
    if m.attachments:
        conn.execute(
            _INSERT_ATTACHMENTS,
            [
                {
                    "message_id": message_id,
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    "content_id": a.content_id,
                    "inline": a.inline,
                }
                for a in m.attachments
            ],
        )


def _existing_leads(conn: Connection, addresses: list[str]) -> dict[str, int]:
    """Lead ids by address, for those of ``addresses`` that have a lead already."""
    return {
        address: lead_id
        for chunk in chunks(addresses)
        for address, lead_id in conn.execute(_LEADS_BY_ADDRESS, {"keys": chunk})
    }


def _leads(session: Session, message_id: int, wanted: tuple[LeadWrite, ...]) -> tuple[dict[str, int], tuple[str, ...]]:
    """Lead ids by address, each found or created (with this message as its first); and the addresses created."""
    by_address: dict[str, LeadWrite] = {}
    for lead in wanted:
        by_address.setdefault(lead.address, lead)
    conn = session.connection()
    ids = _existing_leads(conn, sorted(by_address))
    created: list[str] = []
    # In address order, so that two workers creating the same leads wait on each other instead of deadlocking.
    new_lead = _INSERT_OR_SKIP[conn.dialect.name]["lead"]
    for address in sorted(by_address.keys() - ids.keys()):
        lead = by_address[address]
        values = {
            "address": address,
            "name": lead.name,
            "company": lead.company,
            "owner_user_id": lead.owner_user_id,
            "first_message_id": message_id,
        }
        lead_id: int | None = conn.execute(new_lead, values).scalar()
        if lead_id is not None:
            ids[address] = lead_id
            created.append(address)
            continue
        # Another message from this address, processed at the same moment, created the lead first.
        found = conn.scalar(_LEAD_BY_ADDRESS, {"address": address})
        if found is None:
            raise PlanError(f"lead {address!r} was neither inserted nor found")
        ids[address] = found
    return ids, tuple(created)


def _links(
    session: Session, message_id: int, links: tuple[LinkWrite, ...], lead_ids: dict[str, int], *, created: bool
) -> int:
    """Add the plan's links that the message does not have yet (the first reason per entity wins)."""
    reasons: dict[tuple[str, int], tuple[str, int | None]] = {}
    for link in links:
        entity_id = lead_ids[link.lead_address] if link.lead_address is not None else link.entity_id
        assert entity_id is not None  # validate_plan checked it
        reasons.setdefault((link.entity_type, entity_id), (link.reason, link.from_message_id))
    now = utcnow()
    rows = [
        {
            "message_id": message_id,
            "entity_type": kind,
            "entity_id": eid,
            "reason": reason,
            "from_message_id": source,
            "created_at": now,
        }
        for (kind, eid), (reason, source) in sorted(reasons.items())
    ]
    return add_links(session, rows, new_message=message_id if created else None)
