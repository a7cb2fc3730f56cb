"""Deleting one directory entry (user, client, contact or record) by its natural key, conservatively.

An entry that anything still refers to (filed mail's links, codes or matched participants; a client's contacts and
records; a contact's converted leads) is refused with ``EntryInUseError`` unless ``force`` is given. With ``force``,
the mail stays as it is and only what was derived from the entry goes: its links are removed, a deleted record's
codes wait again (``message_codes.record_id`` NULL, as if it had never been imported), participants that matched it
match nothing, and contacts, records and leads pointing at it point nowhere; the mail counted under it and its client
(``store.index_counts``) is counted again. A user who submitted mail, owns leads
or is matched in mail is never deleted, not even with ``force``: visibility (roles ``team`` and ``own``) rests on
them. Revoke the user's tokens and password instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from store.errors import EntryInUseError
from store.imports import ClientNames
from store.index_counts import entry_keys, recount
from store.models import (
    ApiToken,
    Client,
    ClientDomain,
    ClientEmail,
    Contact,
    ContactEmail,
    Lead,
    Link,
    Message,
    MessageCode,
    Participant,
    Record,
    User,
    UserAddress,
)
from store.shapes import DeleteResult
from store.team_mail import people_changing

#: The kinds ``delete_entry`` knows, as the import names them.
DELETABLE = ("users", "clients", "contacts", "records")


def _count(session: Session, model: Any, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _refuse_if_used(counts: dict[str, int], *, force: bool, forceable: bool = True) -> None:
    """Raise ``EntryInUseError`` naming what still refers to the entry, unless nothing does or ``force`` may
    override it."""
    used = {what: n for what, n in counts.items() if n}
    if used and not (force and forceable):
        raise EntryInUseError(used, forceable=forceable)


def _links(entity_type: str, entity_id: int) -> tuple[ColumnElement[bool], ...]:
    return (Link.entity_type == entity_type, Link.entity_id == entity_id)


def _matched(match_type: str, entity_id: int) -> tuple[ColumnElement[bool], ...]:
    return (Participant.match_type == match_type, Participant.match_id == entity_id)


def _mail_references(session: Session, entity_type: str, entity_id: int) -> dict[str, int]:
    """Filed mail's references to the entry: its links and the participants matched to it (what ``_unlink``
    removes)."""
    return {
        "links": _count(session, Link, *_links(entity_type, entity_id)),
        "participants": _count(session, Participant, *_matched(entity_type, entity_id)),
    }


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))


def _unlink(session: Session, entity_type: str, entity_id: int) -> tuple[int, int]:
    """Remove the entry's links and unmatch its participants; ``(links removed, participants unmatched)``."""
    links = session.execute(delete(Link).where(*_links(entity_type, entity_id)))
    unmatched = session.execute(
        update(Participant)
        .where(*_matched(entity_type, entity_id))
        .values(match_type=None, match_id=None, match_via=None)
    )
    return _rowcount(links), _rowcount(unmatched)


def _delete_user(session: Session, email: str) -> DeleteResult | None:
    user_id = session.scalar(select(User.id).where(User.email == email))
    if user_id is None:
        return None
    _refuse_if_used(
        {
            "submitted messages": _count(session, Message, Message.submitter_user_id == user_id),
            **_mail_references(session, "user", user_id),
            "owned leads": _count(session, Lead, Lead.owner_user_id == user_id),
        },
        force=False,
        forceable=False,
    )
    session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
    with people_changing(session):  # the team no longer sees mail to or from the user's addresses
        session.execute(delete(UserAddress).where(UserAddress.user_id == user_id))
        session.execute(delete(User).where(User.id == user_id))
    return DeleteResult()


def _delete_client(session: Session, name: str, force: bool) -> DeleteResult | None:
    client_id = ClientNames(session).get(name)
    if client_id is None:
        return None
    _refuse_if_used(
        {
            **_mail_references(session, "client", client_id),
            "contacts": _count(session, Contact, Contact.client_id == client_id),
            "records": _count(session, Record, Record.client_id == client_id),
        },
        force=force,
    )
    links, unmatched = _unlink(session, "client", client_id)
    detached = _rowcount(session.execute(update(Contact).where(Contact.client_id == client_id).values(client_id=None)))
    detached += _rowcount(session.execute(update(Record).where(Record.client_id == client_id).values(client_id=None)))
    session.execute(delete(ClientDomain).where(ClientDomain.client_id == client_id))
    session.execute(delete(ClientEmail).where(ClientEmail.client_id == client_id))
    session.execute(delete(Client).where(Client.id == client_id))
    recount(session, [("clients", client_id)])
    return DeleteResult(links_removed=links, participants_unmatched=unmatched, detached=detached)


def _delete_contact(session: Session, address: str, force: bool) -> DeleteResult | None:
    contact_id = session.scalar(select(ContactEmail.contact_id).where(ContactEmail.address == address))
    if contact_id is None:
        return None
    _refuse_if_used(
        {
            **_mail_references(session, "contact", contact_id),
            "converted leads": _count(session, Lead, Lead.converted_contact_id == contact_id),
        },
        force=force,
    )
    addresses = tuple(
        session.scalars(
            select(ContactEmail.address).where(ContactEmail.contact_id == contact_id).order_by(ContactEmail.address)
        )
    )
    counted = entry_keys(session, "contact", contact_id)
    links, unmatched = _unlink(session, "contact", contact_id)
    detached = _rowcount(
        session.execute(update(Lead).where(Lead.converted_contact_id == contact_id).values(converted_contact_id=None))
    )
    session.execute(delete(ContactEmail).where(ContactEmail.contact_id == contact_id))
    session.execute(delete(Contact).where(Contact.id == contact_id))
    recount(session, counted)
    return DeleteResult(links_removed=links, participants_unmatched=unmatched, detached=detached, addresses=addresses)


def _delete_record(session: Session, code: str, force: bool) -> DeleteResult | None:
    record_id = session.scalar(select(Record.id).where(Record.code == code.upper()))
    if record_id is None:
        return None
    _refuse_if_used(
        {
            "links": _count(session, Link, *_links("record", record_id)),
            "codes": _count(session, MessageCode, MessageCode.record_id == record_id),
        },
        force=force,
    )
    counted = entry_keys(session, "record", record_id)
    links, _ = _unlink(session, "record", record_id)
    codes = session.execute(update(MessageCode).where(MessageCode.record_id == record_id).values(record_id=None))
    session.execute(delete(Record).where(Record.id == record_id))
    recount(session, counted)
    return DeleteResult(links_removed=links, codes_unresolved=_rowcount(codes))


def delete_entry(session: Session, kind: str, key: str, *, force: bool) -> DeleteResult | None:
    """Delete the ``kind`` entry with natural ``key`` (user email, client name, contact address, record code, all
    in their stored form); ``None`` when there is none. Raises ``EntryInUseError`` (see the module)."""
    if kind == "users":
        return _delete_user(session, key)
    if kind == "clients":
        return _delete_client(session, key, force)
    if kind == "contacts":
        return _delete_contact(session, key, force)
    if kind == "records":
        return _delete_record(session, key, force)
    raise ValueError(f"unknown directory kind {kind!r}")
