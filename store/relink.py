"""Re-filing history under a newly imported contact: a lead whose address a contact now owns is converted.

Its mail (linked to the lead, or with a participant of that address) is linked to the contact and the contact's
client too, reason ``address``; the participants' match follows. The lead row stays, and so do its links: history
reflects what was known when the mail arrived, plus what we know now.
"""

from __future__ import annotations

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from store.apply import add_links
from store.imports import _load
from store.models import Contact, ContactEmail, Lead, Link, Participant, utcnow
from store.views import RelinkResult


def relink_contacts(session: Session) -> RelinkResult:
    """Convert every unconverted lead whose address is a contact's, and link its past mail to that contact."""
    converts = session.execute(
        select(Lead.id, Lead.address, Contact.id, Contact.client_id)
        .join(ContactEmail, ContactEmail.address == Lead.address)
        .join(Contact, ContactEmail.contact_id == Contact.id)
        .where(Lead.converted_contact_id.is_(None))
        .order_by(Lead.id)
    ).all()
    if not converts:
        return RelinkResult(leads_converted=0, links_added=0)
    by_lead = {lead_id: (contact_id, client_id) for lead_id, _, contact_id, client_id in converts}
    by_address = {address: (contact_id, client_id) for _, address, contact_id, client_id in converts}

    targets: set[tuple[int, str, int]] = set()

    def target(message_id: int, contact_id: int, client_id: int | None) -> None:
        targets.add((message_id, "contact", contact_id))
        if client_id is not None:
            targets.add((message_id, "client", client_id))

    lead_links = select(Link.message_id, Link.entity_id).where(Link.entity_type == "lead")
    for message_id, lead_id in _load(session, lambda chunk: lead_links.where(Link.entity_id.in_(chunk)), by_lead):
        target(message_id, *by_lead[lead_id])
    seen = select(Participant.message_id, Participant.address)
    for message_id, address in _load(session, lambda chunk: seen.where(Participant.address.in_(chunk)), by_address):
        target(message_id, *by_address[address])

    now = utcnow()
    added = add_links(
        session,
        [
            {"message_id": mid, "entity_type": kind, "entity_id": eid, "reason": "address", "created_at": now}
            for mid, kind, eid in sorted(targets)
        ],
    )
    session.execute(
        update(Lead),
        [{"id": lead_id, "converted_contact_id": cid, "converted_at": now} for lead_id, (cid, _) in by_lead.items()],
    )
    _match_participants(session, {address: cid for address, (cid, _) in by_address.items()})
    return RelinkResult(leads_converted=len(converts), links_added=added)


def _match_participants(session: Session, contact_of: dict[str, int]) -> None:
    """Point every external participant with one of these addresses at its contact."""
    table = Participant.__table__
    assert isinstance(table, Table)
    stmt = (
        update(table)
        .where(table.c.address == bindparam("b_address"), table.c.internal.is_(False))
        .values(match_type="contact", match_id=bindparam("b_contact"), match_via="contact")
    )
    session.execute(stmt, [{"b_address": address, "b_contact": cid} for address, cid in sorted(contact_of.items())])
