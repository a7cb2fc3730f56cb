"""Details of directory entries: viewers, clients, contacts, leads and records as the web viewer shows them.

The directory is not secret: any logged-in viewer sees these details. Their mail is not: timelines go through the
message list with the viewer, and a lead's first message id is shown only to viewers who may see that message.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from store.cursors import before, decode_cursor, encode_cursor
from store.models import (
    Client,
    ClientDomain,
    ClientEmail,
    Contact,
    ContactEmail,
    Lead,
    Record,
    User,
    UserAddress,
)
from store.page_shapes import ClientDetail, ContactDetail, LeadDetail, LeadPage, Viewer
from store.rows import from_row
from store.shapes import EntityRef, RecordRef
from store.visibility import lead_visible, visible_id

#: The most leads one page holds.
MAX_LEADS_PAGE = 500


def get_viewer(session: Session, user_id: int) -> Viewer | None:
    """The user as a viewer: role, team and own addresses; ``None`` for no such user."""
    user = session.execute(select(User.role, User.team_id).where(User.id == user_id)).first()
    if user is None:
        return None
    addresses = session.scalars(
        select(UserAddress.address).where(UserAddress.user_id == user_id).order_by(UserAddress.address)
    )
    return Viewer(user_id=user_id, role=user.role, team_id=user.team_id, addresses=tuple(addresses))


def get_client(session: Session, client_id: int) -> ClientDetail | None:
    """A client with its domains, addresses, contacts and records; ``None`` for no such client."""
    name = session.scalar(select(Client.name).where(Client.id == client_id))
    if name is None:
        return None
    domains = session.scalars(
        select(ClientDomain.domain).where(ClientDomain.client_id == client_id).order_by(ClientDomain.domain)
    )
    emails = session.scalars(
        select(ClientEmail.address).where(ClientEmail.client_id == client_id).order_by(ClientEmail.address)
    )
    contacts = session.execute(
        select(Contact.id, Contact.name).where(Contact.client_id == client_id).order_by(Contact.name, Contact.id)
    )
    records = session.execute(
        select(Record.id, Record.code, Record.type, Record.title)
        .where(Record.client_id == client_id)
        .order_by(Record.code)
    )
    return ClientDetail(
        id=client_id,
        name=name,
        domains=tuple(domains),
        emails=tuple(emails),
        contacts=tuple(EntityRef(cid, contact) for cid, contact in contacts),
        records=tuple(RecordRef(rid, code, type_, title, client_id, name) for rid, code, type_, title in records),
    )


def get_contact(session: Session, contact_id: int) -> ContactDetail | None:
    """A contact with its client and addresses; ``None`` for no such contact."""
    row = session.execute(
        select(Contact.name, Contact.client_id, Client.name)
        .outerjoin(Client, Client.id == Contact.client_id)
        .where(Contact.id == contact_id)
    ).first()
    if row is None:
        return None
    name, client_id, client_name = row
    emails = session.scalars(
        select(ContactEmail.address).where(ContactEmail.contact_id == contact_id).order_by(ContactEmail.address)
    )
    client = EntityRef(client_id, client_name) if client_id is not None else None
    return ContactDetail(id=contact_id, name=name, client=client, emails=tuple(emails))


def get_record(session: Session, record_id: int) -> RecordRef | None:
    """A record with its code and client; ``None`` for no such record."""
    row = session.execute(
        select(Record.id, Record.code, Record.type, Record.title, Record.client_id, Client.name)
        .outerjoin(Client, Client.id == Record.client_id)
        .where(Record.id == record_id)
    ).first()
    return RecordRef(*row) if row is not None else None


def _leads(viewer: Viewer) -> Select[*tuple[Any, ...]]:
    owner, contact = aliased(User), aliased(Contact)
    return (
        select(
            Lead.id,
            Lead.address,
            Lead.name,
            Lead.company,
            Lead.owner_user_id.label("owner_id"),
            owner.name.label("owner"),
            visible_id(viewer, Lead.first_message_id).label("first_message_id"),
            Lead.converted_contact_id,
            contact.name.label("contact_name"),
            Lead.converted_at,
            Lead.created_at,
        )
        .outerjoin(owner, owner.id == Lead.owner_user_id)
        .outerjoin(contact, contact.id == Lead.converted_contact_id)
        .where(lead_visible(viewer))
    )


def _lead(row: Any) -> LeadDetail:
    contact_id = row.converted_contact_id
    return from_row(
        LeadDetail, row, converted_contact=EntityRef(contact_id, row.contact_name) if contact_id is not None else None
    )


def get_lead(session: Session, viewer: Viewer, lead_id: int) -> LeadDetail | None:
    """A lead with its owner, first message (if ``viewer`` may see it) and conversion; ``None`` for no such lead."""
    row = session.execute(_leads(viewer).where(Lead.id == lead_id)).first()
    return _lead(row) if row is not None else None


def list_leads(session: Session, viewer: Viewer, after: str | None, limit: int) -> LeadPage:
    """The leads the assistant created, newest first, one keyset page after the cursor ``after``."""
    limit = max(1, min(limit, MAX_LEADS_PAGE))
    stmt = _leads(viewer)
    if after is not None:
        at, last_id = decode_cursor("l", after)
        stmt = stmt.where(before(Lead.created_at, Lead.id, at, last_id))
    rows = session.execute(stmt.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit + 1)).all()
    items = tuple(map(_lead, rows[:limit]))
    more = len(rows) > limit
    return LeadPage(items=items, next=encode_cursor("l", items[-1].created_at, items[-1].id) if more else None)
