"""Fixtures for the plan-applying tests: the directory applied to the test's store, with its ids."""

from __future__ import annotations

import pytest

from store import Store
from tests.store.apply.support import ACME, ANNA, DEAL, JAN, PIOTR, Ids


@pytest.fixture
def ids(store: Store) -> Ids:
    store.directory.apply_users([ANNA, JAN])
    store.directory.apply_clients([ACME])
    store.directory.apply_contacts([PIOTR])
    store.directory.apply_records([DEAL])
    users = store.directory.find_users_by_addresses([ANNA.email, JAN.email])
    piotr = store.directory.find_people(["piotr@acme-logistics.pl"]).contacts["piotr@acme-logistics.pl"]
    assert piotr.client_id is not None
    deal = store.directory.find_records_by_codes(["OP-123"])["OP-123"].id
    return Ids(users[ANNA.email].id, users[JAN.email].id, piotr.client_id, piotr.id, deal)
