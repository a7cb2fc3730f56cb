"""What each directory index is (``store.indexes``): its table, the column its name is, how a search matches an
entry (names "contain", addresses and domains also match exactly, by their unique index), and its rows' extras."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import aliased

from store.models import Client, ClientDomain, ClientEmail, Contact, ContactEmail, Lead, Record, Team, User, UserAddress
from store.page_shapes import Viewer
from store.search import term_forms
from store.visibility import visible_id

AnySelect = Select[*tuple[Any, ...]]

#: Which sorts each index offers, the first its default.
SORTS = {
    "clients": ("name", "count", "last"),
    "contacts": ("name", "count", "last"),
    "leads": ("new", "name", "count", "last"),
    "records": ("name", "count", "last"),
    "users": ("name", "count", "last"),
}


@dataclass(frozen=True, slots=True)
class IndexKind:
    """What differs between the indexes: the table, what its name is, how it is searched, its rows' extras."""

    table: Any
    name: Any
    search: Callable[[str], ColumnElement[bool]]
    columns: Callable[[], list[Any]]
    joins: Callable[[AnySelect], AnySelect]


def _pattern(q: str) -> str:
    """``q`` as a case-insensitive LIKE pattern for "contains" (``\\`` escapes ``%`` and ``_``)."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _like(column: Any, q: str) -> ColumnElement[bool]:
    return func.lower(column).like(_pattern(q), escape="\\")


def _address_like(column: Any, q: str) -> ColumnElement[bool]:
    # Addresses and domains are stored lower-case: equality is their unique index, "contains" a scan of one table.
    # An IDN is stored in A-labels, so "żabka" is looked for as "xn--abka-99a" too.
    return or_(*(or_(column == form.lower(), column.like(_pattern(form), escape="\\")) for form in term_forms(q)))


def _clients() -> IndexKind:
    def search(q: str) -> ColumnElement[bool]:
        return or_(
            _like(Client.name, q),
            Client.id.in_(select(ClientEmail.client_id).where(_address_like(ClientEmail.address, q))),
            Client.id.in_(select(ClientDomain.client_id).where(_address_like(ClientDomain.domain, q))),
        )

    return IndexKind(Client, Client.name, search, lambda: [], lambda s: s)


def _contacts() -> IndexKind:
    client = aliased(Client)

    def search(q: str) -> ColumnElement[bool]:
        emails = select(ContactEmail.contact_id).where(_address_like(ContactEmail.address, q))
        return or_(_like(Contact.name, q), Contact.id.in_(emails))

    return IndexKind(
        Contact,
        Contact.name,
        search,
        lambda: [client.id, client.name],
        lambda s: s.outerjoin(client, client.id == Contact.client_id),
    )


def _leads(viewer: Viewer) -> IndexKind:
    owner, contact = aliased(User), aliased(Contact)

    def search(q: str) -> ColumnElement[bool]:
        return or_(_like(Lead.name, q), _address_like(Lead.address, q), _like(Lead.company, q))

    return IndexKind(
        Lead,
        func.coalesce(Lead.name, Lead.address),
        search,
        lambda: [
            owner.id,
            owner.name,
            Lead.address,
            Lead.company,
            Lead.created_at,
            visible_id(viewer, Lead.first_message_id),
            contact.id,
            contact.name,
        ],
        lambda s: s.outerjoin(owner, owner.id == Lead.owner_user_id).outerjoin(
            contact, contact.id == Lead.converted_contact_id
        ),
    )


def _records() -> IndexKind:
    client = aliased(Client)

    def search(q: str) -> ColumnElement[bool]:
        return or_(Record.code == q.upper(), _like(Record.code, q), _like(Record.title, q))

    return IndexKind(
        Record,
        Record.code,
        search,
        lambda: [client.id, client.name, Record.title, Record.type],
        lambda s: s.outerjoin(client, client.id == Record.client_id),
    )


def _users() -> IndexKind:
    def search(q: str) -> ColumnElement[bool]:
        aliases = select(UserAddress.user_id).where(_address_like(UserAddress.address, q))
        return or_(_like(User.name, q), _address_like(User.email, q), User.id.in_(aliases))

    return IndexKind(
        User,
        User.name,
        search,
        lambda: [User.email, User.role, Team.name],
        lambda s: s.outerjoin(Team, Team.id == User.team_id),
    )


KINDS: dict[str, Callable[[Viewer], IndexKind]] = {
    "clients": lambda viewer: _clients(),
    "contacts": lambda viewer: _contacts(),
    "leads": _leads,
    "records": lambda viewer: _records(),
    "users": lambda viewer: _users(),
}
