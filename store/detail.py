"""One message in full, and its attachments, for a viewer: an invisible message reads exactly like a missing one.

The message row is read with the visibility condition; everything else is read only once that row was found,
one query per kind of child (participants, links, codes, receipts, attachments).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, defer

from store.labels import with_labels
from store.models import Attachment, Inbound, Message, MessageCode, Participant, User, UserAddress
from store.page_shapes import AttachmentRef, CodeView, MessageDetail, ParticipantView, ReceiptView, Viewer
from store.rows import from_row
from store.timeline import link_chips
from store.visibility import visible

_ATTACHMENT = select(
    Attachment.id,
    Attachment.message_id,
    Attachment.filename,
    Attachment.content_type,
    Attachment.size,
    Attachment.sha256,
    Attachment.content_id,
    Attachment.inline,
)


def _attachment(row: Any) -> AttachmentRef:
    return AttachmentRef(*row)


def _participants(session: Session, message_id: int) -> tuple[ParticipantView, ...]:
    joined, label = with_labels(Participant, Participant.match_type, Participant.match_id)
    stmt = (
        select(
            Participant.address,
            Participant.name,
            Participant.role,
            Participant.internal,
            Participant.match_type,
            Participant.match_id,
            label,
            Participant.match_via,
        )
        .select_from(joined)
        .where(Participant.message_id == message_id)
        .order_by(Participant.id)
    )
    return tuple(ParticipantView(*row) for row in session.execute(stmt))


def _codes(session: Session, message_id: int) -> tuple[CodeView, ...]:
    stmt = select(MessageCode.code, MessageCode.record_id).where(MessageCode.message_id == message_id)
    return tuple(CodeView(code, record_id) for code, record_id in session.execute(stmt.order_by(MessageCode.code)))


def _receipts(session: Session, message_id: int) -> tuple[ReceiptView, ...]:
    stmt = (
        select(*Inbound.__table__.columns, User.name.label("sender_user"))
        # The submitter the gateway proved; receipts from before it did name the envelope sender's user.
        .outerjoin(UserAddress, UserAddress.address == func.coalesce(Inbound.submitter, func.lower(Inbound.mail_from)))
        .outerjoin(User, User.id == UserAddress.user_id)
        .where(Inbound.message_id == message_id)
        .order_by(Inbound.received_at, Inbound.id)
    )
    return tuple(from_row(ReceiptView, row, rcpt_tos=tuple(row.rcpt_tos)) for row in session.execute(stmt))


def get_message(
    session: Session, viewer: Viewer, message_id: int, *, text_limit: int | None = None
) -> MessageDetail | None:
    """The message with everything about it, or ``None`` when it does not exist or ``viewer`` may not see it.

    With ``text_limit``, for a page: the text body's first ``text_limit`` characters only (``body_text_length``
    says how long it is), and the original HTML only when no sanitized copy was kept (``body_html_safe``): a page
    never carries a 20 MB body. (SQLite still reads the whole text value to cut it: ~40 ms for 20 MB.)"""
    stmt = (
        select(Message, User.name)
        .outerjoin(User, User.id == Message.submitter_user_id)
        .where(Message.id == message_id, visible(viewer))
    )
    if text_limit is not None:
        stmt = stmt.options(defer(Message.body_text), defer(Message.body_html))
    found = session.execute(stmt).first()
    if found is None:
        return None
    m, submitter = found
    body_text, text_length, body_html = _bodies(session, m, text_limit)
    attachments = session.execute(_ATTACHMENT.where(Attachment.message_id == m.id).order_by(Attachment.id))
    # The columns shown as stored come from ``m`` by name (the bodies are given: with ``text_limit`` they are
    # deferred, and read only as ``_bodies`` cut them).
    return from_row(
        MessageDetail,
        m,
        submitter_id=m.submitter_user_id,
        submitter=submitter,
        body_text=body_text,
        body_text_length=int(text_length),
        body_html=body_html,
        html_blocked=m.html_blocked or 0,
        html_blocked_hosts=tuple(m.html_blocked_hosts or ()),
        participants=_participants(session, m.id),
        links=link_chips(session, [m.id], viewer).get(m.id, ()),
        codes=_codes(session, m.id),
        receipts=_receipts(session, m.id),
        attachments=tuple(map(_attachment, attachments)),
        chain=tuple(m.chain or ()),
    )


def _bodies(session: Session, m: Message, text_limit: int | None) -> tuple[str | None, int, str | None]:
    """The text body (its first ``text_limit`` characters, when given), its full length, and the HTML body (with
    ``text_limit``: only when no sanitized copy was kept)."""
    if text_limit is None:
        return m.body_text, len(m.body_text or ""), m.body_html
    shown = select(
        func.substr(Message.body_text, 1, text_limit),
        func.coalesce(func.length(Message.body_text), 0),
        case((Message.body_html_safe.is_(None), Message.body_html), else_=None),
    ).where(Message.id == m.id)
    text, length, html = session.execute(shown).one()
    return text, int(length), html


def _one_attachment(
    session: Session, viewer: Viewer, message_id: int, *where: ColumnElement[bool]
) -> AttachmentRef | None:
    stmt = (
        _ATTACHMENT.join(Message, Message.id == Attachment.message_id)
        .where(Attachment.message_id == message_id, visible(viewer), *where)
        .order_by(Attachment.id)
        .limit(1)
    )
    row = session.execute(stmt).first()
    return _attachment(row) if row is not None else None


def get_attachment(session: Session, viewer: Viewer, message_id: int, attachment_id: int) -> AttachmentRef | None:
    """That attachment of that message, or ``None`` (no such attachment, or a message the viewer may not see)."""
    return _one_attachment(session, viewer, message_id, Attachment.id == attachment_id)


def cid_forms(content_id: str) -> list[str]:
    """How a ``cid:`` reference may be stored: as written or URL-decoded (RFC 2392), with or without ``<>``.

    None with a NUL: no stored Content-ID has one (a header cannot carry it), and PostgreSQL refuses to bind it.
    """
    bare = {content_id.strip().strip("<>"), unquote(content_id).strip().strip("<>")} - {""}
    return sorted({form for b in bare if "\x00" not in b for form in (b, f"<{b}>")})


def find_attachment_by_cid(session: Session, viewer: Viewer, message_id: int, content_id: str) -> AttachmentRef | None:
    """The attachment a ``cid:`` URL in the message's HTML refers to, or ``None``."""
    forms = cid_forms(content_id)
    if not forms:
        return None
    return _one_attachment(session, viewer, message_id, Attachment.content_id.in_(forms))
