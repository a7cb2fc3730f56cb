"""Labels for what a link or a participant points at (``entity_type``, ``entity_id``), joined in one query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, func
from sqlalchemy.orm import InstrumentedAttribute, aliased, outerjoin

from store.models import Client, Contact, Lead, Record, User

_Column = ColumnElement[Any] | InstrumentedAttribute[Any]

#: The order chips are shown in.
ENTITY_ORDER = ("client", "contact", "lead", "record", "user")


def with_labels(
    base: FromClause | type[Any], type_col: _Column, id_col: _Column
) -> tuple[FromClause, ColumnElement[str]]:
    """``base`` outer-joined to whatever ``(type_col, id_col)`` names, and that entity's label (``None`` if gone).

    Clients and contacts by name, leads by name else address, records by code, users by name.
    """
    client, contact, lead = aliased(Client), aliased(Contact), aliased(Lead)
    record, user = aliased(Record), aliased(User)
    joined = (
        outerjoin(base, client, and_(type_col == "client", client.id == id_col))
        .outerjoin(contact, and_(type_col == "contact", contact.id == id_col))
        .outerjoin(lead, and_(type_col == "lead", lead.id == id_col))
        .outerjoin(record, and_(type_col == "record", record.id == id_col))
        .outerjoin(user, and_(type_col == "user", user.id == id_col))
    )
    label = func.coalesce(client.name, contact.name, lead.name, lead.address, record.code, user.name)
    return joined, label


def chip_order(entity_type: str, label: str, entity_id: int) -> tuple[int, str, int]:
    """Sort key for chips: by kind of entity, then label."""
    rank = ENTITY_ORDER.index(entity_type) if entity_type in ENTITY_ORDER else len(ENTITY_ORDER)
    return rank, label.casefold(), entity_id
