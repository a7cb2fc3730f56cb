"""Session validity: logout, password changes, forged cookies and hash upgrades end or keep sessions."""

from __future__ import annotations

import base64
import json
import re

import httpx2
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from store import Store
from tests.web.auth.support import PASSWORD, post_login
from web.app import create_app
from web.auth.middleware import SESSION_COOKIE
from web.auth.passwords import hash_api_token, hash_password, new_api_token


def _logout(client: TestClient) -> httpx2.Response:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert token is not None
    return client.post("/logout", data={"csrf_token": token.group(1)})


def test_logout_clears_the_session(client: TestClient) -> None:
    post_login(client)
    response = _logout(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_logout_ends_the_session_even_for_a_copy_of_the_cookie(client: TestClient, store: Store) -> None:
    # Given Anna logged in, her cookie copied, and a second session of hers elsewhere
    post_login(client)
    copied = client.cookies[SESSION_COOKIE]
    with TestClient(create_app(store), follow_redirects=False) as elsewhere:
        post_login(elsewhere)
        assert elsewhere.get("/").status_code == 200
        # When she logs out
        assert _logout(client).status_code == 303
        # Then the copied cookie, replayed, is sent to the login page, and so is her other session
        client.cookies.set(SESSION_COOKIE, copied)
        replayed = client.get("/")
        assert replayed.status_code == 303
        assert replayed.headers["location"].startswith("/login")
        assert elsewhere.get("/").status_code == 303
    # And she can log in again
    client.cookies.clear()
    assert post_login(client).status_code == 303
    assert client.get("/").status_code == 200


def test_logging_out_a_stale_session_does_not_end_the_current_ones(client: TestClient, store: Store) -> None:
    # Given a cookie from a session that already ended, and a new login
    post_login(client)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert token is not None
    stale = client.cookies[SESSION_COOKIE]
    _logout(client)
    client.cookies.clear()
    post_login(client)
    # When the stale cookie posts a logout
    with TestClient(create_app(store), follow_redirects=False) as old:
        old.cookies.set(SESSION_COOKIE, stale)
        assert old.post("/logout", data={"csrf_token": token.group(1)}).status_code == 303
    # Then the new session goes on
    assert client.get("/").status_code == 200


def test_logout_needs_the_csrf_token(client: TestClient) -> None:
    post_login(client)
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/").status_code == 200  # still logged in


def test_a_new_password_ends_sessions_and_revokes_all_but_service_tokens(client: TestClient, store: Store) -> None:
    # Given Anna logged in, with an ordinary token and a service token
    anna = store.auth.get_login("anna@example.com")
    assert anna is not None
    laptop, service = new_api_token(), new_api_token()
    store.auth.add_api_token(anna.id, "laptop", hash_api_token(laptop))
    store.auth.add_api_token(anna.id, "crm sync", hash_api_token(service), service=True)
    post_login(client)
    assert client.get("/").status_code == 200
    # When her password is changed
    store.auth.set_password_hash("anna@example.com", hash_password("another long password"))
    # Then her session is over, the ordinary token is revoked, and the service token still reads the API
    assert client.get("/").status_code == 303
    client.cookies.clear()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {laptop}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {service}"}).status_code == 200


def test_a_forged_cookie_is_anonymous(client: TestClient, store: Store) -> None:
    post_login(client)
    payload, timestamp, signature = client.cookies[SESSION_COOKIE].split(".")
    session = json.loads(base64.b64decode(payload))
    boss = store.auth.get_login("boss@example.com")
    assert boss is not None
    # Given Anna's signed session with the boss's user id put in it
    session["uid"] = boss.id
    forged = base64.b64encode(json.dumps(session).encode()).decode()
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, f"{forged}.{timestamp}.{signature}")
    assert client.get("/").status_code == 303


def test_an_outdated_hash_is_upgraded_at_login(client: TestClient, store: Store) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    store.auth.set_password_hash("anna@example.com", weak)
    anna = store.auth.get_login("anna@example.com")
    assert anna is not None
    token = new_api_token()
    store.auth.add_api_token(anna.id, "laptop", hash_api_token(token))
    with TestClient(create_app(store), follow_redirects=False) as earlier:
        post_login(earlier)  # Given a session from before the upgrade
        assert post_login(client).status_code == 303
        login = store.auth.get_login("anna@example.com")
        assert login is not None and login.password_hash != weak
        assert login.password_hash is not None and "m=65536" in login.password_hash
        assert client.get("/").status_code == 200  # the session follows the new hash
        # The same password, stronger hashed, is no password change: other sessions and tokens go on
        assert earlier.get("/").status_code == 200
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_only_role_all_sees_the_ingest_counts(client: TestClient) -> None:
    post_login(client)
    assert "Ingest log by status" not in client.get("/").text
    client.cookies.clear()
    post_login(client, email="boss@example.com")
    assert "Ingest log by status" in client.get("/").text
