"""Scoped bearer tokens for the JSON API: expiry, scopes, bad headers, and no HTML pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

import web.auth.middleware
import web.auth.routes
from store import Store
from store.models import ApiToken, utcnow
from tests.web.auth.support import post_login
from web.auth.passwords import hash_api_token, new_api_token


def test_a_bearer_token_reads_the_api(client: TestClient, store: Store) -> None:
    anna = store.auth.get_login("anna@example.com")
    assert anna is not None
    token = new_api_token()
    token_id = store.auth.add_api_token(anna.id, "test", hash_api_token(token))

    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {
        "id": anna.id,
        "email": "anna@example.com",
        "name": "Anna Nowak",
        "role": "team",
        "team": "Sales PL",
    }
    with store.engine.connect() as conn:
        stored = conn.execute(select(ApiToken.token_hash)).scalars().all()
    assert stored == [hash_api_token(token)]
    assert token not in stored[0]

    store.auth.revoke_api_token(token_id)
    revoked = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401
    assert revoked.json() == {"error": "invalid, expired or revoked token"}
    assert 'error="invalid_token"' in revoked.headers["www-authenticate"]


def test_an_expired_token_is_401(client: TestClient, store: Store) -> None:
    anna = store.auth.get_login("anna@example.com")
    assert anna is not None
    expired, current = new_api_token(), new_api_token()
    store.auth.add_api_token(anna.id, "old", hash_api_token(expired), expires_at=utcnow() - timedelta(seconds=1))
    store.auth.add_api_token(anna.id, "new", hash_api_token(current), expires_at=utcnow() + timedelta(days=1))

    response = client.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid, expired or revoked token"}
    assert client.get("/api/me", headers={"Authorization": f"Bearer {current}"}).status_code == 200


def test_a_token_without_the_read_scope_is_403(client: TestClient, store: Store) -> None:
    anna = store.auth.get_login("anna@example.com")
    assert anna is not None
    ingest, both = new_api_token(), new_api_token()
    store.auth.add_api_token(anna.id, "mail intake", hash_api_token(ingest), scopes=["ingest"])
    store.auth.add_api_token(anna.id, "all", hash_api_token(both), scopes=["ingest", "read"])

    response = client.get("/api/messages", headers={"Authorization": f"Bearer {ingest}"})
    assert response.status_code == 403
    assert response.json() == {"error": "this token lacks the 'read' scope (see 'mailassist token create --scope')"}
    assert 'error="insufficient_scope", scope="read"' in response.headers["www-authenticate"]
    assert client.get("/api/messages", headers={"Authorization": f"Bearer {both}"}).status_code == 200


def test_reads_need_read_and_undeclared_writes_need_a_scope_no_token_has() -> None:
    assert web.auth.middleware.required_scope("GET", "/api/messages") == "read"
    assert web.auth.middleware.required_scope("HEAD", "/api/leads/3") == "read"
    assert web.auth.middleware.required_scope("POST", "/api/messages") is None


@pytest.mark.parametrize(
    "header", ["Bearer ma_unknown", "Bearer ", "Basic YW5uYTpwdw==", "ma_no_scheme", "bearer  ma_unknown"]
)
def test_bad_authorization_is_401_json(client: TestClient, header: str) -> None:
    response = client.get("/api/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert response.headers["content-type"] == "application/json"


def test_the_api_without_credentials_is_401_json(client: TestClient) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required"}
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_session_also_reads_the_api(client: TestClient) -> None:
    post_login(client)
    assert client.get("/api/me").json()["email"] == "anna@example.com"


def test_bearer_tokens_do_not_open_html_pages(client: TestClient, store: Store) -> None:
    anna = store.auth.get_login("anna@example.com")
    assert anna is not None
    token = new_api_token()
    store.auth.add_api_token(anna.id, "test", hash_api_token(token))
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 303
