"""``mailassist explain``: a plan as JSON, without storing anything."""

from __future__ import annotations

from typing import Any

from linker.addresses import is_automated_address
from linker.classify import find_automation
from linker.directory import Directory, MemoryDirectory
from linker.errors import NotAnEmailError, UnreadableMessageError
from linker.model import ChainLevel, HeaderFields, Link, LinkPlan, Mailbox, Original, Participant
from linker.parse import parse_message
from linker.pipeline import MAX_NEW_LEADS, Envelope, plan_message
from linker.settings import LinkerSettings


def _mailbox(mailbox: Mailbox | None) -> dict[str, str | None] | None:
    return None if mailbox is None else {"name": mailbox.name, "address": mailbox.address}


def header_fields_json(block: HeaderFields) -> dict[str, Any]:
    """``from``, ``to``, ``cc``, ``date`` and ``subject`` as every JSON shape of a message writes them (explain's
    ``original``, each chain level, the forward evaluation's results), so they cannot drift apart."""
    return {
        "from": _mailbox(block.from_),
        "to": [_mailbox(m) for m in block.to],
        "cc": [_mailbox(m) for m in block.cc],
        "date": block.date.isoformat() if block.date else None,
        "subject": block.subject,
    }


def chain_level_json(level: ChainLevel) -> dict[str, Any]:
    """One level of ``original.chain``: who passed it on, when and how, and its own header block (what ``explain``
    prints and the store keeps in ``messages.chain``)."""
    return {
        "how": level.how,
        "style": level.style,
        "forwarded_by": _mailbox(level.forwarded_by),
        "forwarded_at": level.forwarded_at.isoformat() if level.forwarded_at else None,
        "forward_subject": level.forward_subject,
        **header_fields_json(level),
        "message_id": level.message_id,
    }


def original_json(original: Original) -> dict[str, Any]:
    """Explain's ``original``: the email the message is about, its body, the note above it and its chain."""
    return {
        **header_fields_json(original),
        "message_id": original.message_id,
        "body": original.body,
        "note": original.note,
        "chain": [chain_level_json(level) for level in original.chain],
    }


def _link(link: Link) -> dict[str, Any]:
    """One link; a ``thread`` link also names the filed message it was inherited from (``from_message``)."""
    out: dict[str, Any] = {"type": link.type, "id": link.id, "label": link.label, "reason": link.reason}
    if link.thread_message is not None:
        out["from_message"] = {"id": link.thread_message, "message_id": link.thread_message_id}
    return out


def no_lead_reason(
    participant: Participant, plan: LinkPlan, settings: LinkerSettings | None, automated: str | None
) -> str | None:
    """Why this participant did not become a new lead, or ``None`` when it did (``match.py`` and the pipeline's caps
    decide; this only says which rule it was)."""
    if participant.internal:
        return "internal"
    if participant.match is not None:
        return f"already known ({participant.match.via})"
    if any(lead.address == participant.address for lead in plan.new_leads):
        return None
    if plan.decision != "accept":
        return f"message not filed ({plan.decision})"
    if automated is not None:
        return f"automated message: {automated}"
    if is_automated_address(participant.address):
        return "automated sender"
    rules = settings.ignore_rules if settings is not None else ()
    rule = next((r for r in rules if r.matches_address(participant.address)), None)
    if rule is not None:
        return f"ignore rule '{rule.name}'"
    if len(plan.new_leads) >= MAX_NEW_LEADS:
        return f"cap: at most {MAX_NEW_LEADS} new leads per message"
    return "unknown"


def plan_to_json(
    plan: LinkPlan, *, settings: LinkerSettings | None = None, automated: str | None = None
) -> dict[str, Any]:
    """The documented explain keys (see README), plus ``forwarded``, ``parser`` and ``dedupe_key``. ``automated``
    is why the message makes no leads (automated mail that is filed), for each participant's ``no_lead``."""
    o = plan.original
    return {
        "decision": plan.decision,
        "reason": plan.reason,
        "kind": plan.kind,
        "direction": plan.direction,
        "submitter": plan.submitter,
        "forwarded": o.forwarded if o else None,
        "original": None if o is None else original_json(o),
        "codes": [{"code": c.code, "type": c.type, "resolved": c.resolved, "record": c.record_id} for c in plan.codes],
        "participants": [
            {
                "address": p.address,
                "name": p.name,
                "role": p.role,
                "internal": p.internal,
                "match": None
                if p.match is None
                else {"type": p.match.type, "id": p.match.id, "label": p.match.label, "via": p.match.via},
                "no_lead": no_lead_reason(p, plan, settings, automated),
            }
            for p in plan.participants
        ],
        "links": [_link(k) for k in plan.links],
        "new_leads": [{"address": n.address, "name": n.name, "company": n.company} for n in plan.new_leads],
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "inline": a.inline}
            for a in plan.attachments
        ],
        "parser": plan.parser,
        "dedupe_key": plan.dedupe_key,
        "also_attached": len(plan.also_attached),
    }


#: Header fields an email has some of (RFC 5322 §3.6, MIME, trace): a file with none of them is not one.
EMAIL_FIELDS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "date",
        "subject",
        "message-id",
        "in-reply-to",
        "references",
        "received",
        "return-path",
        "delivered-to",
        "mime-version",
        "content-type",
        "resent-from",
        "resent-to",
    }
)


def check_email(raw: bytes) -> None:
    """Raise ``NotAnEmailError`` unless ``raw`` reads as an email: parseable, with at least one header field an
    email has. The pipeline files any text it can read (mail may lack headers); a file given to explain by hand
    that has none is a mistake to point out."""
    try:
        message = parse_message(raw)
    except UnreadableMessageError as exc:
        raise NotAnEmailError("empty file" if exc.reason == "empty message" else exc.reason) from exc
    if not any(name.lower() in EMAIL_FIELDS for name, _value in message.headers):
        raise NotAnEmailError("no From, To, Subject, Date or Message-ID header")


def explain_message(
    raw: bytes,
    settings: LinkerSettings,
    *,
    directory: Directory | None = None,
    envelope: Envelope | None = None,
) -> dict[str, Any]:
    """Run the pipeline over ``raw`` and return the plan as a JSON-ready dict."""
    message = parse_message(raw)
    plan = plan_message(
        message,
        envelope=envelope or Envelope(),
        settings=settings,
        directory=directory if directory is not None else MemoryDirectory(),
    )
    automation = (
        find_automation(message, plan.kind, plan.original, parse=parse_message, settings=settings)
        if plan.kind is not None and plan.original is not None
        else None
    )
    return plan_to_json(plan, settings=settings, automated=automation.leads if automation else None)
