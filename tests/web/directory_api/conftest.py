"""Fixtures for the directory sync API tests: the API over a store with Anna and her tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from store import Store
from tests.store.test_relink import ANNA
from tests.web.directory_api.support import RULES, Api
from web.app import create_app


@pytest.fixture
def api(sqlite_store: Store) -> Iterator[Api]:
    sqlite_store.directory.apply_users([ANNA])
    app = create_app(sqlite_store, secret_key="k" * 32, directory=RULES)
    with TestClient(app, follow_redirects=False) as client:
        yield Api(sqlite_store, client)
