"""The directory and helpers the plan-applying tests share: users, a client, a contact, a record, and row counts."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import AttachmentWrite, CodeWrite, LeadWrite, LinkWrite, MessageWrite, ParticipantWrite, PlanWrite, Store
from store.models import Attachment, Base, Inbound, Lead, Link, Message, MessageCode, Participant
from store.shapes import ClientRow, ContactRow, RecordRow, UserRow

ANNA = UserRow(line=2, email="anna@crm.example.com", name="Anna Nowak", team="PL", role="all")
JAN = UserRow(line=3, email="jan@crm.example.com", name="Jan Novák", team="CZ", role="team")
ACME = ClientRow(line=2, name="Acme Logistics", domains=("acme-logistics.pl",))
PIOTR = ContactRow(line=2, name="Piotr Zieliński", emails=("piotr@acme-logistics.pl",), client=ACME.name)
DEAL = RecordRow(line=2, code="OP-123", type="deal", title="Fleet renewal", client=ACME.name)
KEY = "<CAF=x1@mail.acme-logistics.pl>"
LEAD = "nowak@gmail.com"
PDF = b"%PDF-1.7 offer"
LOGO = b"\x89PNG logo"


@dataclasses.dataclass(frozen=True)
class Ids:
    anna: int
    jan: int
    acme: int
    piotr: int
    deal: int


def inbound(store: Store, raw: bytes = b"Subject: x\r\n\r\nbody\r\n") -> str:
    return store.receipts.add_inbound(raw, mail_from=ANNA.email, rcpt_tos=["assistant@crm.example.com"]).id


def attachment(data: bytes, filename: str | None, content_type: str, *, inline: bool = False) -> AttachmentWrite:
    sha = hashlib.sha256(data).hexdigest()
    cid = "<logo@x>" if inline else None
    return AttachmentWrite(filename, content_type, len(data), sha, cid, inline, data)


def bcc(ids: Ids, *, key: str = KEY, lead: str = LEAD, submitter: int | None = None) -> MessageWrite:
    """Anna writes to Piotr (a contact) and to an unknown address (a new lead) about deal OP-123."""
    return MessageWrite(
        dedupe_key=key,
        message_id_header=key,
        subject="OP-123 offer",
        date=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        from_name="Anna Nowak",
        from_address=ANNA.email,
        direction="outgoing",
        kind="bcc",
        submitter_user_id=submitter or ids.anna,
        body_text="Dzień dobry",
        body_html=None,
        note=None,
        raw_sha256="a" * 64,
        participants=(
            ParticipantWrite("from", ANNA.email, "Anna Nowak", True, "user", ids.anna, "user"),
            ParticipantWrite("to", "piotr@acme-logistics.pl", "Piotr", False, "contact", ids.piotr, "contact"),
            ParticipantWrite("cc", lead, "Jan Nowak", False, None, None, None),
        ),
        links=(
            LinkWrite("contact", "address", entity_id=ids.piotr),
            LinkWrite("client", "address", entity_id=ids.acme),
            LinkWrite("record", "code", entity_id=ids.deal),
            LinkWrite("lead", "new-lead", lead_address=lead),
            LinkWrite("client", "code", entity_id=ids.acme),  # the same entity again: the first reason wins
        ),
        new_leads=(LeadWrite(lead, "Jan Nowak", None, submitter or ids.anna),),
        codes=(CodeWrite("OP-123", ids.deal), CodeWrite("ZZ-9", None)),
        attachments=(attachment(PDF, "offer.pdf", "application/pdf"), attachment(LOGO, None, "image/png", inline=True)),
    )


def linked(message: MessageWrite | None) -> PlanWrite:
    return PlanWrite(status="linked", reason=None, message=message)


def count(store: Store, model: type[Base]) -> int:
    with Session(store.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def rows(store: Store, *columns: Any) -> list[tuple[Any, ...]]:
    with Session(store.engine) as session:
        # None sorts first, so that nullable columns compare.
        return sorted(
            (tuple(r) for r in session.execute(select(*columns))), key=lambda r: [(v is not None, v) for v in r]
        )


def inbound_row(store: Store, inbound_id: str) -> tuple[str, str | None, int | None, datetime | None]:
    with Session(store.engine) as session:
        row = session.get(Inbound, inbound_id)
        assert row is not None
        return row.status, row.reason, row.message_id, row.processed_at


def nothing_filed(store: Store) -> bool:
    models: list[type[Base]] = [Message, Participant, Link, Lead, MessageCode, Attachment]
    return all(count(store, model) == 0 for model in models)
