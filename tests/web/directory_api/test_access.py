"""Who may write through the directory sync API, and what it answers without its rules or to oversized bodies."""

from __future__ import annotations

from starlette.testclient import TestClient

from store import Store
from store.models import Client
from tests.store.test_relink import ANNA
from tests.web.conftest import log_in, set_passwords
from tests.web.directory_api.support import NDJSON, Api, names
from web.app import create_app


def test_writes_need_a_directory_write_token(api: Api) -> None:
    row = {"name": "Acme"}
    anonymous = api.client.put("/api/directory/clients/Acme", json=row)
    assert anonymous.status_code == 401
    read_only = api.put("clients/Acme", row, scope="read")
    assert read_only.status_code == 403
    assert "directory:write" in read_only.json()["error"]
    wrong = api.client.delete("/api/directory/clients/Acme", headers={"Authorization": "Bearer ma_nope"})
    assert wrong.status_code == 401
    # A write token cannot read: it was given the one scope
    assert api.client.get("/api/me", headers=api.auth()).status_code == 403
    assert names(api.store, Client) == []


def test_a_logged_in_browser_can_never_write(api: Api, fast_passwords: None) -> None:
    set_passwords(api.store, [ANNA.email])
    log_in(api.client, ANNA.email)
    assert api.client.get("/api/me").status_code == 200  # the session is valid
    csrf = {"X-CSRF-Token": "anything"}
    attempts = [
        api.client.put("/api/directory/clients/Acme", json={}, headers=csrf),
        api.client.delete("/api/directory/clients/Acme"),
        api.client.post("/api/directory/clients", content='{"name": "Acme"}\n', headers=NDJSON),
        api.client.post("/api/directory/clients/Acme", json={}),
        api.client.put("/api/clients/1", json={}),
    ]
    for response in attempts:
        assert response.status_code in (401, 403, 405), response.text
    assert names(api.store, Client) == []


def test_without_the_import_rules_the_routes_answer_503(sqlite_store: Store) -> None:
    sqlite_store.directory.apply_users([ANNA])
    with TestClient(create_app(sqlite_store, secret_key="k" * 32)) as client:
        api = Api(sqlite_store, client)
        assert api.put("clients/Acme", {}).status_code == 503


def test_oversized_bodies_are_refused(api: Api) -> None:
    big = {"name": "A", "emails": ["x" * 60 + f"{i}@acme.pl" for i in range(2000)]}
    assert api.put("clients/A", big).status_code == 413
