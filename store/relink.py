"""Re-filing history under a newly imported contact: past mail with the contact's address is linked to it.

Two kinds of history are re-filed, each to the contact and the contact's client too, reason ``address``:

- a lead whose address a contact now owns is converted. Its mail (linked to the lead, or with a participant of that
  address) is linked; the lead row stays, and so do its links;
- mail filed (a ``linked`` receipt) where the address is an external participant that matched nothing: no lead
  was made for it because the mail or the address was automated, or an ignore rule covered it. Mail that ended
  ``ignored`` was never filed, so it stays out.

Either way the participants' match follows, which is what makes a second run find nothing to do. History reflects
what was known when the mail arrived, plus what we know now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, exists, select, update
from sqlalchemy.orm import Session

from store.apply import add_links
from store.imports import _load
from store.models import Contact, ContactEmail, Inbound, Lead, Link, Participant, utcnow
from store.views import RelinkResult


def relink_contacts(session: Session) -> RelinkResult:
    """Link past mail to the contacts that now own its addresses: converted leads' mail, and unmatched history."""
    converts = session.execute(
        select(Lead.id, Lead.address, Contact.id, Contact.client_id)
        .join(ContactEmail, ContactEmail.address == Lead.address)
        .join(Contact, ContactEmail.contact_id == Contact.id)
        .where(Lead.converted_contact_id.is_(None))
        .order_by(Lead.id)
    ).all()
    unmatched = _unmatched_participants(session)
    if not converts and not unmatched:
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
    for _participant_id, message_id, contact_id, client_id in unmatched:
        target(message_id, contact_id, client_id)

    now = utcnow()
    added = add_links(
        session,
        [
            {"message_id": mid, "entity_type": kind, "entity_id": eid, "reason": "address", "created_at": now}
            for mid, kind, eid in sorted(targets)
        ],
    )
    if by_lead:
        session.execute(
            update(Lead),
            [
                {"id": lead_id, "converted_contact_id": cid, "converted_at": now}
                for lead_id, (cid, _) in by_lead.items()
            ],
        )
    _match_participants(session, {address: cid for address, (cid, _) in by_address.items()})
    _match_participant_rows(session, {participant_id: cid for participant_id, _, cid, _ in unmatched})
    return RelinkResult(leads_converted=len(converts), links_added=added)


def _unmatched_participants(session: Session) -> list[tuple[int, int, int, int | None]]:
    """``(participant, message, contact, client)`` for each external participant that matched nothing when its
    mail was filed, and whose address a contact owns now."""
    filed = exists().where(Inbound.message_id == Participant.message_id, Inbound.status == "linked")
    rows = session.execute(
        select(Participant.id, Participant.message_id, Contact.id, Contact.client_id)
        .join(ContactEmail, ContactEmail.address == Participant.address)
        .join(Contact, ContactEmail.contact_id == Contact.id)
        .where(Participant.internal.is_(False), Participant.match_type.is_(None), filed)
        .order_by(Participant.id)
    ).all()
    return [
        (participant_id, message_id, contact_id, client_id)
        for participant_id, message_id, contact_id, client_id in rows
    ]


def _match_participants(session: Session, contact_of: dict[str, int]) -> None:
    """Point every external participant with one of these addresses at its contact."""
    table = _participants()
    _set_contact(session, and_(table.c.address == bindparam("b_key"), table.c.internal.is_(False)), contact_of)


def _match_participant_rows(session: Session, contact_of: dict[int, int]) -> None:
    """Point these participant rows (by id) at their contact."""
    _set_contact(session, _participants().c.id == bindparam("b_key"), contact_of)


def _participants() -> Table:
    table = Participant.__table__
    assert isinstance(table, Table)
    return table


def _set_contact(session: Session, where: ColumnElement[bool], contact_of: Mapping[Any, int]) -> None:
    """Set the contact match of the participants ``where`` selects, per ``b_key`` (a key of ``contact_of``)."""
    if not contact_of:
        return
    stmt = (
        update(_participants())
        .where(where)
        .values(match_type="contact", match_id=bindparam("b_contact"), match_via="contact")
    )
    session.execute(stmt, [{"b_key": key, "b_contact": cid} for key, cid in sorted(contact_of.items())])
