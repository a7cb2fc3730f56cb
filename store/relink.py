"""Re-filing history with today's directory: what mail would be filed on if it arrived now, it is filed on too.

Three kinds of history are re-filed, each only in mail that was filed (a ``linked`` receipt; mail that ended
``ignored`` was never filed), except for converted leads, whose mail is theirs whatever happened to it:

- **codes** seen in a subject that named no record then (``message_codes.record_id`` NULL) and name one now: the
  code is resolved and the mail linked to the record, reason ``code``;
- **leads** whose address a contact now owns are converted: their mail (linked to the lead, or with a participant
  of that address) is linked to the contact and its client, reason ``address``; the lead row stays, and so do its
  links;
- **participants** that matched nothing (no lead was made: the mail or the address was automated, or an ignore rule
  covered it) and now match, in the linker's order, a contact (and its client), a client's address (reason
  ``address``), or a client's domain that is not a free-mail domain (reason ``domain``). An address that is a lead
  now is left alone: the linker would file it on the lead, and a lead is not the directory's.

Every change moves what made it a candidate (the code is resolved, the lead converted, the participant matched), so
a second run finds nothing to do, and a run that stopped half-way is finished by the next. Work goes a batch of
rows at a time, each batch one transaction, so memory and transaction size stay bounded whatever the history's
size. A ``RelinkScope`` (what an import changed) narrows every kind to its keys: indexed lookups of those codes and
addresses, or one pass over the unmatched participants when domains changed. History reflects what was known when
the mail arrived, plus what we know now.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Row, Select, Table, bindparam, exists, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from store.apply import add_links
from store.bulk import CHUNK, chunked, chunks
from store.models import (
    Base,
    ClientDomain,
    ClientEmail,
    Contact,
    ContactEmail,
    Inbound,
    Lead,
    Link,
    MessageCode,
    Participant,
    Record,
    utcnow,
)
from store.shapes import RelinkResult, RelinkScope

T = TypeVar("T")

#: Rows per batch, and so per transaction.
BATCH = 1000


class Runner(Protocol):
    """Runs a function in one transaction (``Database.run``)."""

    def __call__(self, fn: Callable[[Session], T]) -> T: ...


#: Told how many candidate rows each batch examined (for a progress bar whose length ``count_relink`` gave).
Progress = Callable[[int], None]


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _filed(message_id: InstrumentedAttribute[int]) -> ColumnElement[bool]:
    return exists().where(Inbound.message_id == message_id, Inbound.status == "linked")


def _key_chunks(keys: Collection[str] | None) -> Iterator[list[str] | None]:
    """Each chunk of ``keys`` (sorted), or a single ``None`` (every key) when there is no scope."""
    if keys is None:
        yield None
    else:
        yield from chunks(sorted(set(keys)))


def _count(session: Session, stmt: Select[*tuple[Any, ...]]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


# --- what to look at ---------------------------------------------------------------------------------------------


def _codes(chunk: list[str] | None) -> Select[*tuple[Any, ...]]:
    """Unresolved codes of filed mail that name a record now: ``(message_codes.id, message, record)``."""
    stmt = (
        select(MessageCode.id, MessageCode.message_id, Record.id)
        .join(Record, Record.code == MessageCode.code)
        .where(MessageCode.record_id.is_(None), _filed(MessageCode.message_id))
    )
    return stmt if chunk is None else stmt.where(MessageCode.code.in_(chunk))


def _leads(chunk: list[str] | None) -> Select[*tuple[Any, ...]]:
    """Leads whose address a contact owns now: ``(lead, address, contact, client)``."""
    stmt = (
        select(Lead.id, Lead.address, Contact.id, Contact.client_id)
        .join(ContactEmail, ContactEmail.address == Lead.address)
        .join(Contact, ContactEmail.contact_id == Contact.id)
        .where(Lead.converted_contact_id.is_(None))
    )
    return stmt if chunk is None else stmt.where(Lead.address.in_(chunk))


def _unmatched(chunk: list[str] | None) -> Select[*tuple[Any, ...]]:
    """External participants of filed mail that matched nothing: ``(participant, message, address)``."""
    stmt = select(Participant.id, Participant.message_id, Participant.address).where(
        Participant.internal.is_(False), Participant.match_type.is_(None), _filed(Participant.message_id)
    )
    return stmt if chunk is None else stmt.where(Participant.address.in_(chunk))


@dataclass(frozen=True, slots=True)
class _Plan:
    """The queries a relink runs, narrowed to a scope; ``None`` keys mean every row."""

    codes: Sequence[list[str] | None]
    leads: Sequence[list[str] | None]
    #: Address chunks for indexed lookups; ``[None]`` for one pass over every unmatched participant.
    unmatched: Sequence[list[str] | None]
    #: With a one-pass scope: only participants with one of these addresses or domains count.
    addresses: frozenset[str] | None = None
    domains: frozenset[str] | None = None

    @classmethod
    def of(cls, scope: RelinkScope | None) -> _Plan:
        if scope is None:
            return cls(codes=[None], leads=[None], unmatched=[None])
        unmatched: list[list[str] | None] = list(_key_chunks(scope.addresses))
        if scope.domains:
            # A domain is no index key of participants: one pass over the unmatched ones, filtered here.
            unmatched = [None]
        return cls(
            codes=list(_key_chunks(scope.codes)),
            leads=list(_key_chunks(scope.addresses)),
            unmatched=unmatched,
            addresses=frozenset(scope.addresses) if scope.domains else None,
            domains=frozenset(scope.domains) if scope.domains else None,
        )

    def wants(self, address: str) -> bool:
        """Whether a participant found in a one-pass scan is in scope."""
        if self.domains is None:
            return True
        assert self.addresses is not None
        return address in self.addresses or address.rpartition("@")[2] in self.domains


def count_relink(run: Runner, scope: RelinkScope | None = None) -> int:
    """How many candidate rows a relink of ``scope`` (``None``: everything) will examine: its progress bar's length."""
    plan = _Plan.of(scope)

    def count(session: Session) -> int:
        total = sum(_count(session, _codes(chunk)) for chunk in plan.codes)
        total += sum(_count(session, _leads(chunk)) for chunk in plan.leads)
        return total + sum(_count(session, _unmatched(chunk)) for chunk in plan.unmatched)

    return run(count)


def relink(
    run: Runner,
    scope: RelinkScope | None = None,
    *,
    free_mail_domains: Iterable[str],
    batch: int = BATCH,
    progress: Progress | None = None,
) -> RelinkResult:
    """Re-file history with today's directory, ``batch`` rows per transaction; ``scope`` narrows it to what an
    import changed (``None``: everything). Client domains in ``free_mail_domains`` never match."""
    plan = _Plan.of(scope)
    tick = progress or (lambda _n: None)
    result = RelinkResult()
    for chunk in plan.codes:
        for found in _pages(run, _codes(chunk), MessageCode.id, _resolve_codes, batch=batch, tick=tick):
            result += found
    for chunk in plan.leads:
        result += _convert_leads(run, _leads(chunk), batch, tick)
    free = frozenset(free_mail_domains)
    for chunk in plan.unmatched:

        def match(session: Session, rows: Sequence[Row[*tuple[Any, ...]]]) -> RelinkResult:
            return _match_unmatched(session, [r for r in rows if plan.wants(r[2])], free)

        for found in _pages(run, _unmatched(chunk), Participant.id, match, batch=batch, tick=tick):
            result += found
    return result


def _pages(
    run: Runner,
    stmt: Select[*tuple[Any, ...]],
    key: InstrumentedAttribute[int],
    write: Callable[[Session, Sequence[Row[*tuple[Any, ...]]]], RelinkResult],
    *,
    batch: int,
    tick: Progress,
) -> Iterator[RelinkResult]:
    """``write`` each keyset page of ``stmt`` (whose first column is ``key``) in a transaction of its own."""
    after = 0

    def page(session: Session) -> tuple[int, int, RelinkResult]:
        rows = session.execute(stmt.where(key > after).order_by(key).limit(batch)).all()
        return len(rows), rows[-1][0] if rows else after, write(session, rows) if rows else RelinkResult()

    while True:
        size, after, found = run(page)
        tick(size)
        yield found
        if size < batch:
            return


# --- writing ---------------------------------------------------------------------------------------------------

#: A link to add: ``(message, entity type, entity, reason)``.
_Target = tuple[int, str, int, str]


def _add(session: Session, targets: Iterable[_Target]) -> RelinkResult:
    """Insert the links that are not there yet; how many of each type were added."""
    now = utcnow()
    added: dict[str, int] = {}
    by_type: dict[str, list[dict[str, Any]]] = {}
    for message_id, kind, entity_id, reason in sorted(set(targets)):
        row = {"message_id": message_id, "entity_type": kind, "entity_id": entity_id, "reason": reason}
        by_type.setdefault(kind, []).append({**row, "created_at": now})
    for kind, rows in by_type.items():
        added[kind] = add_links(session, rows)
    return RelinkResult(
        record_links=added.get("record", 0), contact_links=added.get("contact", 0), client_links=added.get("client", 0)
    )


def _resolve_codes(session: Session, rows: Sequence[Row[*tuple[Any, ...]]]) -> RelinkResult:
    table = _table(MessageCode)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.record_id.is_(None))
        .values(record_id=bindparam("b_record"))
    )
    session.execute(stmt, [{"b_id": code_id, "b_record": record_id} for code_id, _, record_id in rows])
    links = _add(session, ((message_id, "record", record_id, "code") for _, message_id, record_id in rows))
    return RelinkResult(codes_resolved=len(rows)) + links


def _person_targets(message_id: int, contact_id: int, client_id: int | None) -> list[_Target]:
    targets = [(message_id, "contact", contact_id, "address")]
    if client_id is not None:
        targets.append((message_id, "client", client_id, "address"))
    return targets


def _set_matches(session: Session, matches: Sequence[tuple[int, str, int, str]], *, only_unmatched: bool) -> None:
    """Set ``(participant, type, id, via)`` matches by participant id."""
    if not matches:
        return
    table = _table(Participant)
    where = table.c.id == bindparam("b_id")
    if only_unmatched:
        where = where & table.c.match_type.is_(None)
    stmt = update(table).where(where).values(match_type=bindparam("b_type"), match_id=bindparam("b_match"))
    stmt = stmt.values(match_via=bindparam("b_via"))
    session.execute(stmt, [{"b_id": p, "b_type": t, "b_match": m, "b_via": v} for p, t, m, v in matches])


def _convert_leads(run: Runner, leads: Select[*tuple[Any, ...]], batch: int, tick: Progress) -> RelinkResult:
    """Convert the leads ``leads`` selects, ``CHUNK`` at a time: their mail first, in batches, then the leads."""
    result = RelinkResult()
    size = min(batch, CHUNK)
    after = 0

    def read(session: Session) -> Sequence[Row[*tuple[Any, ...]]]:
        return session.execute(leads.where(Lead.id > after).order_by(Lead.id).limit(size)).all()

    while True:
        page = run(read)
        if page:
            after = page[-1][0]
            result += _convert_page(run, page, batch)
            tick(len(page))
        if len(page) < size:
            return result


def _convert_page(run: Runner, page: Sequence[Row[*tuple[Any, ...]]], batch: int) -> RelinkResult:
    """File one page of leads' mail under their contacts, in batches; then mark the leads converted."""
    by_lead = {lead_id: (contact_id, client_id) for lead_id, _, contact_id, client_id in page}
    by_address = {address: (contact_id, client_id) for _, address, contact_id, client_id in page}
    result = RelinkResult()

    def lead_mail(session: Session, rows: Sequence[Row[*tuple[Any, ...]]]) -> RelinkResult:
        return _add(session, (t for _, mid, lead in rows for t in _person_targets(mid, *by_lead[lead])))

    def address_mail(session: Session, rows: Sequence[Row[*tuple[Any, ...]]]) -> RelinkResult:
        external = [(pid, "contact", by_address[a][0], "contact") for pid, _, a, internal in rows if not internal]
        _set_matches(session, external, only_unmatched=False)
        return _add(session, (t for _, mid, a, _ in rows for t in _person_targets(mid, *by_address[a])))

    lead_links = select(Link.id, Link.message_id, Link.entity_id).where(
        Link.entity_type == "lead", Link.entity_id.in_(sorted(by_lead))
    )
    seen = select(Participant.id, Participant.message_id, Participant.address, Participant.internal).where(
        Participant.address.in_(sorted(by_address))
    )
    for found in _pages(run, lead_links, Link.id, lead_mail, batch=batch, tick=_no_progress):
        result += found
    for found in _pages(run, seen, Participant.id, address_mail, batch=batch, tick=_no_progress):
        result += found

    def convert(session: Session) -> None:
        table = _table(Lead)
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.converted_contact_id.is_(None))
            .values(converted_contact_id=bindparam("b_contact"), converted_at=bindparam("b_at"))
        )
        now = utcnow()
        session.execute(stmt, [{"b_id": i, "b_contact": c, "b_at": now} for i, (c, _) in sorted(by_lead.items())])

    run(convert)
    return result + RelinkResult(leads_converted=len(by_lead))


def _no_progress(_rows: int) -> None:
    """Progress is counted per lead, not per message of a lead."""


@dataclass(frozen=True, slots=True)
class _Found:
    """What an address matches now: the participant's match and the links it gives."""

    match_type: str
    match_id: int
    via: str
    links: tuple[tuple[str, int, str], ...]


def _directory(session: Session, addresses: set[str], free_mail: frozenset[str]) -> dict[str, _Found]:
    """What each address matches in today's directory, in the linker's order; unmatched ones are left out."""
    contacts = select(ContactEmail.address, Contact.id, Contact.client_id).join(
        Contact, ContactEmail.contact_id == Contact.id
    )
    emails = select(ClientEmail.address, ClientEmail.client_id)
    lead_addresses = select(Lead.address)
    domains = select(ClientDomain.domain, ClientDomain.client_id)
    by_contact = {
        a: (c, cl) for a, c, cl in chunked(session, lambda k: contacts.where(ContactEmail.address.in_(k)), addresses)
    }
    by_email = dict(chunked(session, lambda k: emails.where(ClientEmail.address.in_(k)), addresses))
    leads = {a for (a,) in chunked(session, lambda k: lead_addresses.where(Lead.address.in_(k)), addresses)}
    wanted = {a.rpartition("@")[2] for a in addresses} - free_mail
    by_domain = dict(chunked(session, lambda k: domains.where(ClientDomain.domain.in_(k)), sorted(wanted)))
    found: dict[str, _Found] = {}
    for address in addresses:
        if address in by_contact:
            contact, client = by_contact[address]
            client_link = (("client", client, "address"),) if client is not None else ()
            found[address] = _Found("contact", contact, "contact", (("contact", contact, "address"), *client_link))
        elif address in by_email:
            client = by_email[address]
            found[address] = _Found("client", client, "client-email", (("client", client, "address"),))
        elif address not in leads and (client := by_domain.get(address.rpartition("@")[2])) is not None:
            found[address] = _Found("client", client, "client-domain", (("client", client, "domain"),))
    return found


def _match_unmatched(
    session: Session, rows: Sequence[Row[*tuple[Any, ...]]], free_mail: frozenset[str]
) -> RelinkResult:
    found = _directory(session, {address for _, _, address in rows}, free_mail)
    hits = [(pid, mid, found[address]) for pid, mid, address in rows if address in found]
    _set_matches(session, [(pid, f.match_type, f.match_id, f.via) for pid, _, f in hits], only_unmatched=True)
    links = _add(session, ((mid, kind, entity, reason) for _, mid, f in hits for kind, entity, reason in f.links))
    return RelinkResult(participants_matched=len(hits)) + links
