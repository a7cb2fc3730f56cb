"""Bulk writing for the directory import (``store.imports``): keys looked up in chunks, rows inserted and updated
in bulk statements, child lists (addresses, domains) synced, problems collected per row, and the one transaction
a batch runs in (rolled back after a dry run)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Executable, delete, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from store.errors import ImportConflictError
from store.models import Base
from store.shapes import ImportResult

T = TypeVar("T")

#: Keys per ``IN (...)`` query: far below the bound-parameter limits of SQLite and PostgreSQL.
CHUNK = 500


def chunks(keys: Iterable[T]) -> Iterator[list[T]]:
    items = list(keys)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


@functools.cache
def column_width(model: type[Base], column: str) -> int:
    length = getattr(model.__table__.c[column].type, "length", None)
    assert isinstance(length, int), f"{model.__name__}.{column} has no length"
    return length


class DryRun(Exception):
    """Raised after a dry run's writes so that the transaction rolls back; carries the result out."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result


class NumberedRow(Protocol):
    @property
    def line(self) -> int: ...


class Problems:
    """``(line, message)`` pairs about rows known by index; a row with a problem is left out of later checks."""

    def __init__(self, rows: Sequence[NumberedRow]) -> None:
        self.rows = rows
        self.items: list[tuple[int, str]] = []
        self.bad: set[int] = set()

    def add(self, i: int, message: str) -> None:
        self.items.append((self.rows[i].line, message))
        self.bad.add(i)

    def width(self, i: int, what: str, value: str, model: type[Base], column: str) -> None:
        limit = column_width(model, column)
        if len(value) > limit:
            self.add(i, f"{what} is longer than {limit} characters")

    def claim(self, claims: dict[str, int], i: int, key: str, what: str) -> None:
        """Note that row ``i`` uses ``key``; a second row using it is a problem."""
        first = claims.setdefault(key, i)
        if first != i:
            self.add(i, f"{what} '{key}' is also used on line {self.rows[first].line}")

    def owned(
        self,
        claims: dict[str, int],
        owners: dict[str, int],
        target: dict[int, int],
        what: str,
        *,
        describe: Callable[[set[int]], Mapping[int, str]],
    ) -> None:
        """Each claimed key must be free, or owned by the claiming row's target, or by a target giving it up.

        An owner that this batch updates gives up every key its own row does not list (and a row listing a key
        another row claims is already a problem), so such keys may move. ``describe`` names the owners.
        """
        updated = set(target.values())
        taken = [
            (i, key, owner)
            for key, i in claims.items()
            if (owner := owners.get(key)) is not None and owner != target.get(i) and owner not in updated
        ]
        names = describe({owner for _, _, owner in taken}) if taken else {}
        for i, key, owner in taken:
            self.add(i, f"{what} '{key}' already belongs to {names[owner]}")

    def raise_any(self) -> None:
        if self.items:
            raise ImportConflictError(self.items)


def chunked(session: Session, make: Callable[[list[Any]], Executable], keys: Iterable[Any]) -> Iterator[Any]:
    """Every result row of ``make(chunk)``, for each chunk of ``keys``."""
    for chunk in chunks(keys):
        yield from session.execute(make(chunk))


def owners_of(
    session: Session, key: InstrumentedAttribute[str], owner: InstrumentedAttribute[int], keys: Iterable[str]
) -> dict[str, int]:
    """``key value → owner id`` for those of ``keys`` that are taken.

    No join to the owner: a fresh PostgreSQL table without statistics would hash-join a full scan per chunk.
    """
    stmt = select(key, owner)
    return dict(chunked(session, lambda c: stmt.where(key.in_(c)), keys))


def labeller(session: Session, name: InstrumentedAttribute[str], kind: str) -> Callable[[set[int]], dict[int, str]]:
    """A function that labels ids of ``name``'s table, such as ``user 'anna@example.com'``."""
    id_column = name.class_.__table__.c.id

    def labels(ids: set[int]) -> dict[int, str]:
        stmt = select(id_column, name)
        return {i: f"{kind} '{n}'" for i, n in chunked(session, lambda c: stmt.where(id_column.in_(c)), sorted(ids))}

    return labels


def insert_rows(session: Session, model: type[Base], values: list[dict[str, Any]]) -> list[int]:
    """Insert rows in bulk; their new ids, in order."""
    if not values:
        return []
    stmt = insert(model).returning(model.__table__.c.id, sort_by_parameter_order=True)
    return list(session.scalars(stmt, values))


def update_rows(session: Session, model: type[Base], values: list[dict[str, Any]]) -> None:
    """Update rows in bulk by primary key (each dict has ``id``)."""
    if values:
        session.execute(update(model), values)


def sync_children(
    session: Session,
    key: InstrumentedAttribute[str],
    parent: InstrumentedAttribute[int],
    wanted: Mapping[int, Iterable[str]],
    known: Iterable[int],
    *,
    extra: Callable[[int, str], dict[str, Any]] | None = None,
) -> set[int]:
    """Make each parent's children (addresses, domains) exactly ``wanted[parent]``; the parents that changed.

    ``known`` are the parents that existed before this batch (the others have no children yet). Every delete runs
    before any insert, so a key can move from one parent to another inside the batch without a unique violation.
    """
    child = key.class_
    child_id = child.__table__.c.id
    current: dict[int, dict[str, int]] = {}
    for cid, pid, value in chunked(session, lambda c: select(child_id, parent, key).where(parent.in_(c)), known):
        current.setdefault(pid, {})[value] = cid
    stale: dict[int, list[int]] = {}
    for pid, have in current.items():
        keep = set(wanted[pid])
        stale[pid] = [cid for value, cid in have.items() if value not in keep]
    for chunk in chunks(cid for cids in stale.values() for cid in cids):
        session.execute(delete(child).where(child_id.in_(chunk)).execution_options(synchronize_session=False))
    fresh = [
        (pid, value)
        for pid, values in wanted.items()
        for value in dict.fromkeys(values)
        if value not in current.get(pid, {})
    ]
    if fresh:
        extras = extra or (lambda _pid, _value: {})
        session.execute(
            insert(child), [{parent.key: pid, key.key: value, **extras(pid, value)} for pid, value in fresh]
        )
    return {pid for pid, cids in stale.items() if cids} | {pid for pid, _ in fresh}


def run_import(
    run: Callable[[Callable[[Session], ImportResult]], ImportResult],
    fn: Callable[[Session], ImportResult],
    dry_run: bool,
) -> ImportResult:
    """Run one import in one transaction via ``run``; a dry run writes too (so the database's own constraints
    are checked) and then rolls everything back."""

    def body(session: Session) -> ImportResult:
        result = fn(session)
        session.flush()
        if dry_run:
            raise DryRun(result)
        return result

    try:
        return run(body)
    except DryRun as done:
        return done.result
