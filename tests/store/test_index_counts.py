"""The kept index counts (``store.index_counts``): after filing, a second receipt, relink, refile, forced directory
deletes and a contact moving to another client, every kept row equals a recount from the links.

The data is ``build_world`` (``tests/store/world.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from store import Store
from store.shapes import ContactRow, RecordRow
from tests.kept import assert_kept_as_rebuilt, kept_rows
from tests.store.test_indexes import CLIENT_MAIL, SENT
from tests.store.world import ADA, BETA, JAN, KAREL, World, day, file_message

Kept = dict[tuple[str, int], tuple[int, datetime | None]]


def by_entry(rows: set[tuple[Any, ...]]) -> Kept:
    return {(index, entity): (n, last) for index, entity, n, last in rows}


def kept(store: Store) -> Kept:
    with Session(store.engine) as session:
        return by_entry(kept_rows(session)["index_counts"])


def assert_kept_as_recounted(store: Store) -> Kept:
    """The kept rows, checked against a recount of every index from the links (``tests.kept``)."""
    return by_entry(assert_kept_as_rebuilt(store)["index_counts"])


def test_filing_keeps_every_count_as_a_recount_would(store: Store, world: World) -> None:
    rows = assert_kept_as_recounted(store)
    # Acme: its own, its contact Piotr's and its record's mail, each once
    assert rows[("clients", world.acme)] == (len(CLIENT_MAIL["acme"]), day(max(SENT[n] for n in CLIENT_MAIL["acme"])))
    assert rows[("users", world.users[JAN.email])] == (2, day(SENT["twice"]))  # one of them a second receipt
    assert ("users", world.users[ADA.email]) not in rows  # no mail, no row


def test_a_second_receipt_counts_the_email_once_more_only_where_it_is_new(store: Store, world: World) -> None:
    # Given "beta" already counted under Beta and Jan; Ada files it again
    before = kept(store)
    ada = (ADA.email, world.users[ADA.email])
    again = file_message(store, submitter=ada, key="<4@beta>", subject="Fwd: OP-200 XX-9 sklad", date=day(5))
    assert again == world.m["beta"]
    after = assert_kept_as_recounted(store)
    assert after[("users", ada[1])] == (1, day(5))
    assert after[("clients", world.beta)] == before[("clients", world.beta)]


def test_relink_adds_the_mail_a_new_record_code_brings(store: Store, world: World) -> None:
    # "beta" names XX-9, unknown until this import
    store.directory.apply_records([RecordRow(2, "XX-9", "deal", "Late code", client=BETA.name)])
    store.filing.relink(free_mail_domains=())
    rows = assert_kept_as_recounted(store)
    record = store.directory.find_records_by_codes(["XX-9"])["XX-9"].id
    assert rows[("records", record)] == (1, day(5))


def test_refile_removes_the_email_from_every_count(store: Store, world: World) -> None:
    before = kept(store)
    store.filing.refile_message(world.m["beta"])
    after = assert_kept_as_recounted(store)
    assert after[("clients", world.beta)][0] == before[("clients", world.beta)][0] - 1
    assert ("records", world.warehouse) not in after


@pytest.mark.parametrize(
    ("kind", "key", "gone"),
    [
        ("contacts", "karel@beta.cz", "contacts"),
        ("records", "OP-200", "records"),
        ("clients", "Beta s.r.o.", "clients"),
    ],
)
def test_a_forced_delete_recounts_the_entry_and_its_client(
    store: Store, world: World, kind: str, key: str, gone: str
) -> None:
    entity = {"contacts": world.karel, "records": world.warehouse, "clients": world.beta}[kind]
    assert store.directory.delete_entry(kind, key, force=True) is not None
    after = assert_kept_as_recounted(store)
    assert (gone, entity) not in after


def test_a_contact_moving_to_another_client_takes_its_mail_along(store: Store, world: World) -> None:
    before = kept(store)
    moved = ContactRow(KAREL.line, KAREL.name, KAREL.emails, client="Acme Logistics")
    store.directory.apply_contacts([moved])
    after = assert_kept_as_recounted(store)
    assert after[("clients", world.acme)][0] > before[("clients", world.acme)][0]
