"""Bringing stored names and addresses up to today's reading rules: ``mailassist reprocess --renormalize``.

Names read before a name mixing plain text and RFC 2047 words was decoded still hold the words (``Jan
=?utf-8?q?Nov=C3=A1k?=``); addresses and domains stored before one matching form was used hold an IDN in Unicode
(``jan@żabka.test``) where the linker looks up its A-labels (``jan@xn--abka-99a.test``). The rules themselves
are the linker's: the caller passes them in, and the store only finds the rows that may need them and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, String, bindparam, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from store.bulk import chunks
from store.models import (
    ClientDomain,
    ClientEmail,
    Contact,
    ContactEmail,
    Inbound,
    Lead,
    Message,
    Participant,
    User,
    UserAddress,
)
from store.search import reindex
from store.team_mail import rebuild_team_mail

Column = InstrumentedAttribute[Any]


@dataclass(slots=True)
class RepairResult:
    """Addresses and domains put in their matching form, and those left as they were because another row holds
    that form already (``table.column: old -> new``)."""

    changed: int = 0
    taken: list[str] = field(default_factory=list)


#: Text columns that hold what a message's headers said (names, subjects) or a name from the directory.
NAME_COLUMNS: tuple[Column, ...] = (
    Participant.name,
    Lead.name,
    Contact.name,
    Message.from_name,
    Message.subject,
)
#: Columns holding an address in its matching form, and whether each is unique.
ADDRESS_COLUMNS: tuple[tuple[Column, bool], ...] = (
    (Participant.address, False),
    (Message.from_address, False),
    (Inbound.submitter, False),
    (Lead.address, True),
    (ContactEmail.address, True),
    (ClientEmail.address, True),
    (UserAddress.address, True),
    (User.email, True),
)
#: Columns holding a domain in its matching form (each unique).
DOMAIN_COLUMNS: tuple[Column, ...] = (ClientDomain.domain,)


def repair_names(session: Session, decode: Callable[[str], str]) -> int:
    """Decode what still looks like an encoded word (``=?…?=``) in names and subjects; how many values changed."""
    changed, touched = 0, set[int]()
    for column in NAME_COLUMNS:
        found = _rows(session, column, column.like("%=?%?=%"))
        limit = column.type.length if isinstance(column.type, String) else None
        fixed = {key: decode(value)[:limit] for key, value in found.items()}
        wanted = {key: value for key, value in fixed.items() if value != found[key]}
        changed += _write(session, column, wanted)
        touched |= _messages_of(session, column, wanted)
    reindex(session, touched)  # search finds the names and subjects as they now read
    return changed


def repair_addresses(
    session: Session, address: Callable[[str], str], domain: Callable[[str], str], *, dialect: str
) -> RepairResult:
    """Put every address and domain with a character outside printable ASCII in its matching form. A unique value
    whose matching form another row holds already is left as it is, and listed (someone must merge the two)."""
    result, touched = RepairResult(), set[int]()
    for column, unique in ADDRESS_COLUMNS:
        written = _repair(session, column, address, unique=unique, dialect=dialect, result=result)
        touched |= _messages_of(session, column, written)
    for column in DOMAIN_COLUMNS:
        _repair(session, column, domain, unique=True, dialect=dialect, result=result)
    reindex(session, touched)
    if result.changed:  # a participant's or a member's address may now match where it did not
        rebuild_team_mail(session)
    return result


def _repair(
    session: Session,
    column: Column,
    canonical: Callable[[str], str],
    *,
    unique: bool,
    dialect: str,
    result: RepairResult,
) -> dict[Any, str]:
    """Put ``column`` in its matching form where it is not; what was written, by primary key."""
    found = _rows(session, column, _not_ascii(column, dialect))
    wanted = {key: new for key, value in found.items() if (new := canonical(value)) != value}
    if unique and wanted:
        taken = set(_existing(session, column, set(wanted.values())))
        seen: set[str] = set()
        for key, value in sorted(wanted.items()):
            if value in taken or value in seen:
                result.taken.append(f"{column.class_.__tablename__}.{column.key}: {found[key]} -> {value}")
                del wanted[key]
            seen.add(value)
    result.changed += _write(session, column, wanted)
    return wanted


def _messages_of(session: Session, column: Column, keys: dict[Any, str]) -> set[int]:
    """The messages whose searchable text rows ``keys`` of ``column``'s table hold (a message's own, or a
    participant's)."""
    if not keys or column.class_ not in (Message, Participant):
        return set()
    if column.class_ is Message:
        return set(keys)
    return {
        m
        for chunk in chunks(sorted(keys))
        for m in session.scalars(select(Participant.message_id).where(Participant.id.in_(chunk)))
    }


def _not_ascii(column: Column, dialect: str) -> ColumnElement[bool]:
    """``column`` holds a character outside printable ASCII (SQLite's GLOB, PostgreSQL's regular expressions)."""
    if dialect == "sqlite":
        return column.op("GLOB")("*[^ -~]*")
    return column.op("~")("[^ -~]")


def _key(column: Column) -> Column:
    mapper = column.class_.__mapper__
    key: Column = getattr(column.class_, mapper.primary_key[0].key)
    return key


def _rows(session: Session, column: Column, where: ColumnElement[bool]) -> dict[Any, str]:
    """``column`` by primary key, in the rows ``where`` selects."""
    key = _key(column)
    return {k: v for k, v in session.execute(select(key, column).where(where).order_by(key)) if v is not None}


def _existing(session: Session, column: Column, values: Iterable[str]) -> list[str]:
    return [v for chunk in chunks(sorted(values)) for v in session.scalars(select(column).where(column.in_(chunk)))]


def _write(session: Session, column: Column, values: dict[Any, str]) -> int:
    """Set ``column`` to ``values[key]`` in each row, by primary key; how many rows."""
    if not values:
        return 0
    table = column.class_.__table__
    key = _key(column)
    stmt = update(table).where(table.c[key.key] == bindparam("b_key")).values({column.key: bindparam("b_value")})
    session.execute(stmt, [{"b_key": k, "b_value": v} for k, v in sorted(values.items())])
    return len(values)
