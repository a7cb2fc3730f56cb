"""Full-text search over subject, body and addresses: SQLite FTS5 or PostgreSQL full-text, behind one condition.

Migration 0004 keeps a side table ``messages_fts`` (one row per message) in step with ``messages`` and
``participants``:

- SQLite: an FTS5 table (``tokenize='unicode61 remove_diacritics 2'``: "wisniewski" finds "Wiśniewski"); its
  ``rowid`` is the message id, its columns ``subject``, ``body_text`` and ``addresses`` (sender and participants,
  with names). ``store.apply`` adds a message's row once its participants are known (``index_on_sqlite``;
  migration 0007): FTS5 re-indexes a whole row on an update, so a trigger per participant re-read the body each
  time. A trigger still removes the row with its message.
- PostgreSQL: ``messages_fts(message_id, document tsvector)`` with a GIN index, kept by triggers (a participant
  prepends its own small ``tsvector``). The text goes through the SQL function ``messages_fts_fold`` (common
  Latin diacritics and address punctuation folded, no extension needed) and ``to_tsvector('simple', …)``; queries
  go through the same function.

A query is split on white space; every piece with a letter or digit in it must occur, as a phrase of its words
("piotr@acme-logistics.pl" is the phrase piotr acme logistics pl), or in the A-labels the store keeps an IDN
domain in (``store.idn.idna_form``: "żabka.pl" also finds "biuro@xn--abka-99a.pl"). Nothing a user types is FTS
syntax: pieces are quoted for FTS5 and handed to ``phraseto_tsquery`` on PostgreSQL, so no input raises. A query
with no letter or digit at all matches nothing; a blank one is no search.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, column, delete, false, func, literal_column, select, table, text
from sqlalchemy.orm import Session

from store.bulk import chunks
from store.idn import idna_form
from store.models import Message, Participant

#: The side table (and, on SQLite, the prefix of FTS5's shadow tables): not part of the models.
FTS_TABLE = "messages_fts"
#: Pieces of a query beyond this many are ignored, and so are characters beyond ``MAX_QUERY``.
MAX_TERMS = 16
MAX_QUERY = 1000

_fts = table(FTS_TABLE, column("rowid"), column("message_id"), column("document"))

#: Index one message on SQLite: its subject, body (as far as PostgreSQL's trigger indexes it) and addresses.
_SQLITE_INDEX = text(
    "INSERT INTO messages_fts (rowid, subject, body_text, addresses) "
    "VALUES (:message_id, :subject, substr(:body_text, 1, 100000), :addresses)"
)


def index_on_sqlite(
    conn: Connection,
    message_id: int,
    *,
    subject: str | None,
    body_text: str | None,
    addresses: Iterable[tuple[str | None, str | None]],
) -> None:
    """Add a new message to SQLite's search table, with the sender and participants as ``(address, name)``."""
    words = " ".join(f"{name or ''} {address or ''}" for address, name in addresses)
    values = {"message_id": message_id, "subject": subject or "", "body_text": body_text or "", "addresses": words}
    conn.execute(_SQLITE_INDEX, values)


#: A message's document again, as migration 0004 first filled it: its participants', then its own words.
_POSTGRES_REINDEX = text(
    """UPDATE messages_fts f SET document =
        coalesce(messages_fts_vector((SELECT string_agg(concat_ws(' ', p.address, p.name), ' ' ORDER BY p.id)
                                      FROM participants p WHERE p.message_id = m.id)), ''::tsvector)
        || messages_fts_vector(concat_ws(' ', m.from_name, m.from_address, m.subject, left(m.body_text, 100000)))
    FROM messages m WHERE m.id = f.message_id AND m.id = ANY(:ids)"""
)


def reindex(session: Session, message_ids: Iterable[int]) -> None:
    """Index these messages again from what is stored now (after their names, subjects or addresses were
    rewritten: nothing else changes them after filing, so no trigger does this)."""
    conn = session.connection()
    for chunk in chunks(sorted(set(message_ids))):
        if conn.dialect.name != "sqlite":
            conn.execute(_POSTGRES_REINDEX, {"ids": chunk})
            continue
        people: dict[int, list[tuple[str | None, str | None]]] = {m: [] for m in chunk}
        rows = select(Participant.message_id, Participant.address, Participant.name).where(
            Participant.message_id.in_(chunk)
        )
        for message_id, address, name in session.execute(rows.order_by(Participant.id)):
            people[message_id].append((address, name))
        conn.execute(delete(_fts).where(_fts.c.rowid.in_(chunk)))
        stored = select(Message.id, Message.from_address, Message.from_name, Message.subject, Message.body_text)
        for row in session.execute(stored.where(Message.id.in_(chunk))):
            addresses = [(row.from_address, row.from_name), *people[row.id]]
            index_on_sqlite(conn, row.id, subject=row.subject, body_text=row.body_text, addresses=addresses)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic filter: leave the search table (and FTS5's shadow tables), which the models do not declare, alone."""
    return not (type_ == "table" and name is not None and name.startswith(FTS_TABLE))


def search_terms(q: str | None) -> list[str] | None:
    """The pieces of a query to search for; ``None`` for a blank query (no search at all)."""
    if q is None or not q.strip():
        return None
    # Control characters (NUL above all) are no text to search for, and neither FTS5 nor PostgreSQL takes NUL.
    text = "".join(
        " " if unicodedata.category(ch)[0] == "C" else ch for ch in unicodedata.normalize("NFKC", q[:MAX_QUERY])
    )
    pieces = [piece for piece in text.split() if any(ch.isalnum() for ch in piece)]
    return list(dict.fromkeys(pieces))[:MAX_TERMS]


def term_forms(term: str) -> list[str]:
    """A query piece and, where it names an IDN, its A-label form: either may occur."""
    ascii_form = idna_form(term)
    return [term] if ascii_form is None else [term, ascii_form]


def fts5_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression requiring every term (or its ``idna_form``), each quoted as a phrase (``"``
    doubled inside)."""
    phrases = (" OR ".join('"' + form.replace('"', '""') + '"' for form in term_forms(term)) for term in terms)
    return " AND ".join(f"({phrase})" for phrase in phrases)


def matches(dialect: str, q: str | None) -> ColumnElement[bool] | None:
    """A condition on ``Message.id`` for messages matching ``q``; ``None`` when ``q`` asks for no search."""
    terms = search_terms(q)
    if terms is None:
        return None
    if not terms:
        return false()
    if dialect == "sqlite":
        hits = select(_fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")(fts5_query(terms)))
    else:
        tsquery = _reduce("&&", [_reduce("||", [_phrase(form) for form in term_forms(term)]) for term in terms])
        hits = select(_fts.c.message_id).where(and_(_fts.c.document.op("@@")(tsquery)))
    return Message.id.in_(hits)


def _phrase(text: str) -> ColumnElement[Any]:
    """PostgreSQL: ``text`` as a phrase query, folded as the documents are."""
    return func.phraseto_tsquery(literal_column("'simple'"), func.messages_fts_fold(text))


def _reduce(op: str, queries: list[ColumnElement[Any]]) -> ColumnElement[Any]:
    """PostgreSQL: the queries joined by ``&&`` (all) or ``||`` (any)."""
    combined = queries[0]
    for more in queries[1:]:
        combined = combined.op(op)(more)
    return combined
