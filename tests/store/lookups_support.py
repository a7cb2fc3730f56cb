"""The directory the lookup tests search: clients, contacts and records, with a message filer."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from store import Store
from store.models import Lead, Link, Message
from store.shapes import ClientRow, ContactRow, RecordRow
from tests.conftest import engine_events

ACME = ClientRow(line=2, name="Acme Logistics", domains=("acme-logistics.pl",), emails=("biuro@acme-logistics.pl",))
SKODA = ClientRow(line=3, name="Škoda Díly s.r.o.", domains=("skodadily.cz", "xn--dly-xla.cz"))
PIOTR = ContactRow(line=2, name="Piotr Zieliński", emails=("piotr@acme-logistics.pl", "pz@gmail.com"), client=ACME.name)
PETRA = ContactRow(line=3, name="Petra Dvořáková", emails=("petra@skodadily.cz",), client=SKODA.name)
LONER = ContactRow(line=4, name="Free Lancer", emails=("freelancer@seznam.cz",))
DEAL = RecordRow(line=2, code="op-123", type="deal", title="Fleet renewal 2027", client=ACME.name)
OFFER = RecordRow(line=3, code="OF-7", type="offer", title="Spare parts")


def statements(store: Store) -> AbstractContextManager[list[tuple[str, Any]]]:
    """Every SQL statement sent to the database inside the block, with its parameters."""
    return engine_events(
        store, "before_cursor_execute", lambda _conn, _cursor, statement, parameters, *_: (statement, parameters)
    )


def many(store: Store, n: int) -> dict[str, list[str]]:
    """``n`` rows of every kind, each findable; the keys that find them, per lookup."""
    clients = [
        ClientRow(line=i, name=f"Client {i}", domains=(f"c{i}.test",), emails=(f"office@c{i}.test",)) for i in range(n)
    ]
    store.directory.apply_clients(clients)
    store.directory.apply_contacts(
        [ContactRow(line=i, name=f"P {i}", emails=(f"p{i}@c{i}.test",), client=f"Client {i}") for i in range(n)]
    )
    store.directory.apply_records(
        [RecordRow(line=i, code=f"OP-{i}", type="deal", title="t", client=f"Client {i}") for i in range(n)]
    )
    records = store.directory.find_records_by_codes([f"OP-{i}" for i in range(n)])
    with Session(store.engine) as session, session.begin():
        session.execute(insert(Lead), [{"address": f"lead{i}@l.test"} for i in range(n)])
        session.execute(
            insert(Message),
            [
                {
                    "dedupe_key": f"<m{i}@x>",
                    "message_id_header": f"<m{i}@x>",
                    "direction": "o",
                    "kind": "bcc",
                    "raw_sha256": "0",
                }
                for i in range(n)
            ],
        )
        ids: dict[str, int] = {key: mid for key, mid in session.execute(select(Message.dedupe_key, Message.id))}
        session.execute(
            insert(Link),
            [
                {
                    "message_id": ids[f"<m{i}@x>"],
                    "entity_type": "record",
                    "entity_id": records[f"OP-{i}"].id,
                    "reason": "code",
                }
                for i in range(n)
            ],
        )
    store.queries.rebuild_index_counts()  # the rows above bypassed the store, which keeps its counts and team mail
    return {
        "contacts": [f"p{i}@c{i}.test" for i in range(n)],
        "client_emails": [f"office@c{i}.test" for i in range(n)],
        "leads": [f"lead{i}@l.test" for i in range(n)],
        "domains": [f"c{i}.test" for i in range(n)],
        "records": [f"OP-{i}" for i in range(n)],
    }
