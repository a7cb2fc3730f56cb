"""The JSON shapes of the API (``web.api``): one function a view of the store, answering plain dicts.

Dates are ISO 8601 with their UTC offset; a value the store leaves out is ``null``, never a missing key, so every
shape matches its schema in ``web.openapi_shapes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from store import (
    AttachmentRef,
    ClientDetail,
    ContactDetail,
    Dashboard,
    EntityRef,
    InboundView,
    LeadDetail,
    LinkChip,
    MessageDetail,
    MessageRow,
    RecordRef,
    Viewer,
)
from store.page_shapes import ParticipantView, ReceiptView


def fields_of(view: object, *names: str, prefix: str = "") -> dict[str, Any]:
    """``{name: view.<prefix><name>}`` for each of ``names``: the fields a shape passes on as they are."""
    return {name: getattr(view, prefix + name) for name in names}


def auth_json(auth: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A receipt's authentication record for the API: what vouched, and each check's result."""
    if auth is None:
        return None
    checks = auth.get("checks") or []
    return {
        "detail": auth.get("detail"),
        "route": auth.get("route"),
        "via": auth.get("via"),
        "source": auth.get("source"),
        "checks": [
            {key: c.get(key) for key in ("method", "result", "domain", "selector", "detail")}
            for c in checks
            if isinstance(c, Mapping)
        ],
    }


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ref(ref: EntityRef | None) -> dict[str, Any] | None:
    return {"id": ref.id, "name": ref.label} if ref is not None else None


def link_json(chip: LinkChip) -> dict[str, Any]:
    """A link chip: what the message is filed against, and why."""
    return {"type": chip.type, "id": chip.id, "label": chip.label, "reason": chip.reason}


def message_item(row: MessageRow) -> dict[str, Any]:
    """One row of a message list (``MessageItem`` in the schema)."""
    return {
        "id": row.id,
        "subject": row.subject,
        "date": row.date.isoformat(),
        "direction": row.direction,
        "kind": row.kind,
        "submitter": row.submitter,
        "from": {"name": row.from_name, "address": row.from_address},
        "links": [link_json(chip) for chip in row.links],
    }


def attachment_json(a: AttachmentRef) -> dict[str, Any]:
    """An attachment's metadata and where the page serves its bytes."""
    url = f"/messages/{a.message_id}/attachments/{a.id}"
    return {**fields_of(a, "id", "filename", "content_type", "size", "sha256", "content_id", "inline"), "url": url}


def participant_json(p: ParticipantView) -> dict[str, Any]:
    """A sender or recipient of a message, and what the assistant matched the address to."""
    match = fields_of(p, "type", "id", "label", "via", prefix="match_") if p.match_type is not None else None
    return {**fields_of(p, "role", "address", "name", "internal"), "match": match}


def envelope_json(r: ReceiptView | InboundView) -> dict[str, Any]:
    """A receipt's id and SMTP envelope, as the message's receipts and the ingest log both show them."""
    return {
        "id": r.id,
        "received_at": r.received_at.isoformat(),
        "mail_from": r.mail_from,
        "rcpt_tos": list(r.rcpt_tos),
    }


def receipt_json(r: ReceiptView) -> dict[str, Any]:
    """One receipt of a message: how it arrived, who submitted it and what vouched for them."""
    return {
        **envelope_json(r),
        **fields_of(r, "status", "reason", "sender_user", "submitter", "proof", "source"),
        "auth": auth_json(r.auth),
    }


def message_json(m: MessageDetail, viewer: Viewer) -> dict[str, Any]:
    """A message in full. The HTML body is not inlined: ``body_html_url`` serves it sanitized."""
    return {
        "id": m.id,
        "subject": m.subject,
        "date": _when(m.date),
        "created_at": m.created_at.isoformat(),
        "from": {"name": m.from_name, "address": m.from_address},
        "direction": m.direction,
        "kind": m.kind,
        "submitter_id": m.submitter_id,
        "submitter": m.submitter,
        "note": m.note,
        "message_id_header": m.message_id_header,
        "raw_sha256": m.raw_sha256,
        "participants": [participant_json(p) for p in m.participants],
        "links": [link_json(chip) for chip in m.links],
        "codes": [{"code": c.code, "record_id": c.record_id, "resolved": c.record_id is not None} for c in m.codes],
        "receipts": [receipt_json(r) for r in m.receipts],
        "attachments": [attachment_json(a) for a in m.attachments],
        "body_text": m.body_text,
        "body_html_url": f"/messages/{m.id}/html" if m.body_html else None,
        "raw_url": f"/messages/{m.id}/raw.eml" if viewer.role == "all" else None,
    }


def inbound_json(v: InboundView) -> dict[str, Any]:
    """One receipt of the ingest log."""
    return {
        **envelope_json(v),
        **fields_of(v, "peer", "helo", "size", "sha256", "status", "attempts", "last_error", "reason"),
        "updated_at": v.updated_at.isoformat(),
        "processed_at": _when(v.processed_at),
    }


def lead_json(lead: LeadDetail) -> dict[str, Any]:
    """A lead; ``first_message_id`` is ``null`` when the viewer may not see that message."""
    return {
        "id": lead.id,
        "address": lead.address,
        "name": lead.name,
        "company": lead.company,
        "owner": {"id": lead.owner_id, "name": lead.owner} if lead.owner_id is not None else None,
        "first_message_id": lead.first_message_id,
        "converted_contact": _ref(lead.converted_contact),
        "converted_at": _when(lead.converted_at),
        "created_at": lead.created_at.isoformat(),
    }


def record_json(r: RecordRef) -> dict[str, Any]:
    """A CRM record with its code and client."""
    client = {"id": r.client_id, "name": r.client_name} if r.client_id is not None else None
    return {"id": r.id, "code": r.code, "type": r.type, "title": r.title, "client": client}


def client_json(c: ClientDetail) -> dict[str, Any]:
    """A client with its domains, addresses, contacts and records."""
    return {
        "id": c.id,
        "name": c.name,
        "domains": list(c.domains),
        "emails": list(c.emails),
        "contacts": [_ref(contact) for contact in c.contacts],
        "records": [record_json(r) for r in c.records],
    }


def contact_json(c: ContactDetail) -> dict[str, Any]:
    """A contact with its client and addresses."""
    return {"id": c.id, "name": c.name, "client": _ref(c.client), "emails": list(c.emails)}


def dashboard_json(d: Dashboard, now: datetime) -> dict[str, Any]:
    """The dashboard's counts by window; inbound counts and failures are ``null`` below role ``all``."""
    return {
        "generated_at": now.isoformat(),
        "last_24h": {"inbound": d.inbound_24h, "messages": d.messages_24h, "leads": d.leads_24h},
        "last_7d": {"inbound": d.inbound_7d, "messages": d.messages_7d, "leads": d.leads_7d},
        "unresolved_codes": d.unresolved_codes,
        "recent_failures": [inbound_json(v) for v in d.recent_failures] if d.recent_failures is not None else None,
    }
