"""Viewer login: the form, CSRF, the session cookie, and where a login returns to."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

import web.auth.middleware
import web.auth.routes
from store import Store
from store.shapes import UserRow
from tests.web.auth.support import PASSWORD, Clock, csrf, post_login
from web.app import create_app
from web.auth.middleware import SESSION_COOKIE
from web.auth.passwords import hash_password
from web.auth.routes import safe_next
from web.auth.throttle import LoginThrottle

WRONG = "Wrong email or password."


def test_login_form_posts_email_password_and_csrf_without_javascript(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form class="login" method="post" action="/login">' in page.text
    for field in ('name="email"', 'name="password"', 'type="password"', 'name="csrf_token"'):
        assert field in page.text
    assert "<script" not in page.text.lower()
    assert "httponly" in page.headers["set-cookie"].lower()  # the session holding the CSRF token


def test_login_redirects_home_and_sets_an_httponly_lax_cookie(client: TestClient) -> None:
    response = post_login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http: a Secure cookie would never come back

    home = client.get("/")
    assert home.status_code == 200
    assert "Anna Nowak" in home.text
    assert 'action="/logout"' in home.text


def test_cookie_is_secure_over_https(store: Store) -> None:
    with TestClient(create_app(store), base_url="https://testserver", follow_redirects=False) as client:
        response = post_login(client)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert client.get("/").status_code == 200


@pytest.mark.parametrize(("setting", "secure"), [("always", True), ("never", False)])
def test_secure_cookies_can_be_forced(store: Store, setting: str, secure: bool) -> None:
    app = create_app(store, secure_cookies=setting)  # type: ignore[arg-type]
    with TestClient(app, follow_redirects=False) as client:
        assert ("secure" in client.get("/login").headers["set-cookie"].lower()) is secure


def test_wrong_password_and_unknown_email_get_the_same_401(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    verified: list[str] = []
    real = web.auth.routes.verify_password

    def counting(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(web.auth.routes, "verify_password", counting)
    wrong = post_login(client, password="not the password")
    unknown = post_login(client, email="nobody@example.com")
    no_password = post_login(client, email="piotr@example.com")
    for response in (wrong, unknown, no_password):
        assert response.status_code == 401
        assert WRONG in response.text
        assert "set-cookie" not in response.headers or "uid" not in response.headers["set-cookie"]
    # Every attempt cost one argon2 verification, known user or not: timing does not tell users apart.
    assert len(verified) == 3
    assert all(h.startswith("$argon2id$") for h in verified)
    assert client.get("/").status_code == 303


def test_login_with_an_uppercase_email_works(client: TestClient) -> None:
    assert post_login(client, email="  ANNA@example.com ").status_code == 303


def test_login_may_write_an_idn_domain_in_unicode_and_the_throttle_counts_both_forms(
    store: Store, clock: Clock
) -> None:
    # Given a user the import keeps in A-labels
    store.directory.apply_users([UserRow(line=5, email="ola@xn--abka-99a.test", name="Ola", team=None, role="all")])
    assert store.auth.set_password_hash("ola@xn--abka-99a.test", hash_password(PASSWORD))
    with TestClient(create_app(store, login_throttle=LoginThrottle(clock=clock)), follow_redirects=False) as client:
        # Then the address as she writes it logs her in
        assert post_login(client, email="Ola@Żabka.test").status_code == 303
        client.cookies.clear()
        # And failures in either form count against one address: the sixth, in any form, is held back
        for email in ("ola@żabka.test", "ola@xn--abka-99a.test", "OLA@ŻABKA.TEST") * 2:
            response = post_login(client, email=email, password="guess guess")
            assert response.status_code == 401
        assert 'value="OLA@ŻABKA.TEST"' in response.text  # the form shows what was typed
        assert post_login(client, email="ola@żabka.test").status_code == 429


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_login_without_the_right_csrf_token_is_403(client: TestClient, token: str | None) -> None:
    csrf(client)
    data = {"email": "anna@example.com", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/login", data=data)
    assert response.status_code == 403
    assert client.get("/").status_code == 303  # not logged in


def test_login_without_a_session_is_403(store: Store) -> None:
    with TestClient(create_app(store), follow_redirects=False) as client:
        token = csrf(client)
        client.cookies.clear()  # Given a token copied from a page, but not this browser's session
        data = {"email": "anna@example.com", "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=data).status_code == 403


def test_a_json_body_is_not_a_form(client: TestClient) -> None:
    token = csrf(client)
    response = client.post("/login", json={"email": "anna@example.com", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 403


def test_an_oversized_form_is_refused(client: TestClient) -> None:
    response = post_login(client, password="x" * 20_000)
    assert response.status_code == 413


def test_the_csrf_token_changes_at_login(client: TestClient) -> None:
    before = csrf(client)
    post_login(client)
    after = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert after is not None and after.group(1) != before


def test_login_returns_to_the_page_that_asked_for_it(client: TestClient) -> None:
    asked = client.get("/api/nothing-here", headers={"accept": "text/html"})
    assert asked.status_code == 401  # the API never redirects
    page = client.get("/?view=all")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2F%3Fview%3Dall"
    form = client.get(page.headers["location"])
    assert 'name="next" value="/?view=all"' in form.text
    response = post_login(client, next="/?view=all")
    assert response.headers["location"] == "/?view=all"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "//evil.com/path",
        "https://evil.com",
        "http:/evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "javascript:alert(1)",
        "evil.com",
        "",
        "/login",
    ],
)
def test_next_never_leaves_the_site(client: TestClient, target: str) -> None:
    assert safe_next(target) == "/"
    response = post_login(client, next=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert 'name="next" value="/"' in client.get("/login", params={"next": target}).text
