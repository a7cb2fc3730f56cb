"""``mailassist explain``: a plan as JSON, without storing anything."""

from __future__ import annotations

from typing import Any

from linker.directory import Directory
from linker.model import LinkPlan, Mailbox
from linker.pipeline import Envelope, run_pipeline
from linker.settings import LinkerSettings


def _mailbox(mailbox: Mailbox | None) -> dict[str, str | None] | None:
    return None if mailbox is None else {"name": mailbox.name, "address": mailbox.address}


def plan_to_json(plan: LinkPlan) -> dict[str, Any]:
    """The documented explain keys (see README), plus ``forwarded``, ``parser`` and ``dedupe_key``."""
    o = plan.original
    return {
        "decision": plan.decision,
        "reason": plan.reason,
        "kind": plan.kind,
        "direction": plan.direction,
        "submitter": plan.submitter,
        "forwarded": o.forwarded if o else None,
        "original": None
        if o is None
        else {
            "from": _mailbox(o.from_),
            "to": [_mailbox(m) for m in o.to],
            "cc": [_mailbox(m) for m in o.cc],
            "date": o.date.isoformat() if o.date else None,
            "subject": o.subject,
            "message_id": o.message_id,
            "body": o.body,
            "note": o.note,
        },
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
            }
            for p in plan.participants
        ],
        "links": [{"type": k.type, "id": k.id, "label": k.label, "reason": k.reason} for k in plan.links],
        "new_leads": [{"address": n.address, "name": n.name, "company": n.company} for n in plan.new_leads],
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "inline": a.inline}
            for a in plan.attachments
        ],
        "parser": plan.parser,
        "dedupe_key": plan.dedupe_key,
    }


def explain_message(
    raw: bytes,
    settings: LinkerSettings,
    *,
    directory: Directory | None = None,
    envelope: Envelope | None = None,
) -> dict[str, Any]:
    """Run the pipeline over ``raw`` and return the plan as a JSON-ready dict."""
    plan = run_pipeline(raw, envelope=envelope or Envelope(), settings=settings, directory=directory)
    return plan_to_json(plan)
