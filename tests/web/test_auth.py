"""Viewer access: login, CSRF, throttling, logout, bearer tokens, read-only methods and security headers."""

from __future__ import annotations

import base64
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import web.auth
from store import Store
from store.models import ApiToken
from store.views import UserRow
from web.app import DEFAULT_CSP, SecurityHeadersMiddleware, create_app, default_secret_path
from web.auth import (
    SESSION_COOKIE,
    LoginThrottle,
    hash_api_token,
    hash_password,
    new_api_token,
    safe_next,
)

PASSWORD = "correct horse battery"
WRONG = "Wrong email or password."


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """A store with Anna (role team, with a password), the boss (role all, with a password) and Piotr (none)."""
    sqlite_store.apply_users(
        [
            UserRow(line=2, email="anna@example.com", name="Anna Nowak", team="Sales PL", role="team"),
            UserRow(line=3, email="boss@example.com", name="Boss", team=None, role="all"),
            UserRow(line=4, email="piotr@example.com", name="Piotr", team="Sales PL", role="own"),
        ]
    )
    hashed = hash_password(PASSWORD)
    assert sqlite_store.set_password_hash("anna@example.com", hashed)
    assert sqlite_store.set_password_hash("boss@example.com", hashed)
    return sqlite_store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(store: Store, clock: Clock) -> Iterator[TestClient]:
    app = create_app(store, login_throttle=LoginThrottle(per_email=5, per_address=8, clock=clock))
    with TestClient(app, follow_redirects=False) as c:
        yield c


def _csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, page.text
    return match.group(1)


def _login(
    client: TestClient, email: str = "anna@example.com", password: str = PASSWORD, **extra: str
) -> httpx2.Response:
    return client.post("/login", data={"email": email, "password": password, "csrf_token": _csrf(client), **extra})


# --- the login form and sessions ----------------------------------------------------------------------------------


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
    response = _login(client)
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
        response = _login(client)
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
    real = web.auth.verify_password

    def counting(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(web.auth, "verify_password", counting)
    wrong = _login(client, password="not the password")
    unknown = _login(client, email="nobody@example.com")
    no_password = _login(client, email="piotr@example.com")
    for response in (wrong, unknown, no_password):
        assert response.status_code == 401
        assert WRONG in response.text
        assert "set-cookie" not in response.headers or "uid" not in response.headers["set-cookie"]
    # Every attempt cost one argon2 verification, known user or not: timing does not tell users apart.
    assert len(verified) == 3
    assert all(h.startswith("$argon2id$") for h in verified)
    assert client.get("/").status_code == 303


def test_login_with_an_uppercase_email_works(client: TestClient) -> None:
    assert _login(client, email="  ANNA@example.com ").status_code == 303


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_login_without_the_right_csrf_token_is_403(client: TestClient, token: str | None) -> None:
    _csrf(client)
    data = {"email": "anna@example.com", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/login", data=data)
    assert response.status_code == 403
    assert client.get("/").status_code == 303  # not logged in


def test_login_without_a_session_is_403(store: Store) -> None:
    with TestClient(create_app(store), follow_redirects=False) as client:
        token = _csrf(client)
        client.cookies.clear()  # Given a token copied from a page, but not this browser's session
        data = {"email": "anna@example.com", "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=data).status_code == 403


def test_a_json_body_is_not_a_form(client: TestClient) -> None:
    token = _csrf(client)
    response = client.post("/login", json={"email": "anna@example.com", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 403


def test_an_oversized_form_is_refused(client: TestClient) -> None:
    response = _login(client, password="x" * 20_000)
    assert response.status_code == 413


def test_the_csrf_token_changes_at_login(client: TestClient) -> None:
    before = _csrf(client)
    _login(client)
    after = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert after is not None and after.group(1) != before


# --- throttling -----------------------------------------------------------------------------------------------------


def test_failed_logins_are_throttled_per_email(client: TestClient, clock: Clock) -> None:
    for _ in range(5):
        assert _login(client, password="guess guess").status_code == 401
    # Given five failures, even the right password waits.
    throttled = _login(client)
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
    assert "Too many failed logins" in throttled.text
    # Another user from the same address is not locked out by Anna's five.
    assert _login(client, email="boss@example.com").status_code == 303

    clock.now += 15 * 60 + 1  # When the window has passed
    assert _login(client).status_code == 303


def test_failed_logins_are_throttled_per_client_address(store: Store, clock: Clock) -> None:
    throttle = LoginThrottle(per_email=5, per_address=3, clock=clock)
    app = create_app(store, login_throttle=throttle)
    with TestClient(app, follow_redirects=False, client=("203.0.113.7", 4000)) as client:
        for n in range(3):
            assert _login(client, email=f"guess{n}@example.com").status_code == 401
        assert _login(client).status_code == 429
    with TestClient(app, follow_redirects=False, client=("198.51.100.1", 4000)) as elsewhere:
        assert _login(elsewhere).status_code == 303


def test_a_successful_login_clears_the_emails_failures(client: TestClient) -> None:
    for _ in range(4):
        _login(client, password="guess guess")
    assert _login(client).status_code == 303
    client.cookies.clear()
    for _ in range(4):
        assert _login(client, password="guess guess").status_code == 401


def test_throttle_memory_is_bounded(clock: Clock) -> None:
    throttle = LoginThrottle(max_keys=10, clock=clock)
    for n in range(100):
        throttle.add_failure(f"user{n}@example.com", f"10.0.0.{n}")
    assert len(throttle._failures) <= 11


# --- redirects after login -----------------------------------------------------------------------------------------


def test_login_returns_to_the_page_that_asked_for_it(client: TestClient) -> None:
    asked = client.get("/api/nothing-here", headers={"accept": "text/html"})
    assert asked.status_code == 401  # the API never redirects
    page = client.get("/?view=all")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2F%3Fview%3Dall"
    form = client.get(page.headers["location"])
    assert 'name="next" value="/?view=all"' in form.text
    response = _login(client, next="/?view=all")
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
    response = _login(client, next=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert 'name="next" value="/"' in client.get("/login", params={"next": target}).text


# --- logout and session validity -----------------------------------------------------------------------------------


def test_logout_clears_the_session(client: TestClient) -> None:
    _login(client)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert token is not None
    response = client.post("/logout", data={"csrf_token": token.group(1)})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_logout_needs_the_csrf_token(client: TestClient) -> None:
    _login(client)
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/").status_code == 200  # still logged in


def test_a_new_password_ends_older_sessions(client: TestClient, store: Store) -> None:
    _login(client)
    assert client.get("/").status_code == 200
    store.set_password_hash("anna@example.com", hash_password("another long password"))
    assert client.get("/").status_code == 303


def test_a_forged_cookie_is_anonymous(client: TestClient, store: Store) -> None:
    _login(client)
    payload, timestamp, signature = client.cookies[SESSION_COOKIE].split(".")
    session = json.loads(base64.b64decode(payload))
    boss = store.get_login("boss@example.com")
    assert boss is not None
    # Given Anna's signed session with the boss's user id put in it
    session["uid"] = boss.id
    forged = base64.b64encode(json.dumps(session).encode()).decode()
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, f"{forged}.{timestamp}.{signature}")
    assert client.get("/").status_code == 303


def test_an_outdated_hash_is_upgraded_at_login(client: TestClient, store: Store) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    store.set_password_hash("anna@example.com", weak)
    assert _login(client).status_code == 303
    login = store.get_login("anna@example.com")
    assert login is not None and login.password_hash != weak
    assert login.password_hash is not None and "m=65536" in login.password_hash
    assert client.get("/").status_code == 200  # the session follows the new hash


def test_only_role_all_sees_the_ingest_counts(client: TestClient) -> None:
    _login(client)
    assert "Ingest log by status" not in client.get("/").text
    client.cookies.clear()
    _login(client, email="boss@example.com")
    assert "Ingest log by status" in client.get("/").text


# --- API tokens -----------------------------------------------------------------------------------------------------


def test_a_bearer_token_reads_the_api(client: TestClient, store: Store) -> None:
    anna = store.get_login("anna@example.com")
    assert anna is not None
    token = new_api_token()
    token_id = store.add_api_token(anna.id, "test", hash_api_token(token))

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

    store.revoke_api_token(token_id)
    revoked = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401
    assert revoked.json() == {"error": "invalid or revoked token"}
    assert 'error="invalid_token"' in revoked.headers["www-authenticate"]


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
    _login(client)
    assert client.get("/api/me").json()["email"] == "anna@example.com"


def test_bearer_tokens_do_not_open_html_pages(client: TestClient, store: Store) -> None:
    anna = store.get_login("anna@example.com")
    assert anna is not None
    token = new_api_token()
    store.add_api_token(anna.id, "test", hash_api_token(token))
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 303


# --- read-only, public paths, headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/"),
        ("PUT", "/"),
        ("DELETE", "/api/me"),
        ("PATCH", "/login"),
        ("POST", "/healthz"),
        ("POST", "/api/me"),
        ("POST", "/no-such-page"),
        ("OPTIONS", "/"),
        ("GET", "/logout"),
    ],
)
def test_only_login_and_logout_take_writes(client: TestClient, method: str, path: str) -> None:
    _login(client)
    response = client.request(method, path)
    assert response.status_code == 405
    assert "allow" in response.headers


def test_healthz_and_static_files_are_public(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    css = client.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert client.head("/").status_code == 303


def test_security_headers_are_on_every_response(client: TestClient) -> None:
    responses = [
        client.get("/login"),
        client.get("/"),
        client.get("/healthz"),
        client.get("/static/style.css"),
        client.get("/api/me"),
        client.put("/"),
        client.post("/login", data={}),
    ]
    _login(client)
    responses += [client.get("/"), client.get("/no-such-page"), client.get("/api/me")]
    for response in responses:
        headers = response.headers
        assert headers["content-security-policy"] == DEFAULT_CSP, response.request.url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
    assert {r.status_code for r in responses} >= {200, 303, 401, 403, 404, 405}


def test_a_response_can_set_its_own_csp() -> None:
    async def framed(request: Request) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Content-Security-Policy": "sandbox; default-src 'none'"})

    app = SecurityHeadersMiddleware(Starlette(routes=[Route("/framed", framed)]))
    response = TestClient(app).get("/framed")
    assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert response.headers["x-frame-options"] == "DENY"


def test_server_errors_carry_the_headers_too(store: Store) -> None:
    app = create_app(store)

    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("boom")

    app.router.routes.append(Route("/healthz-broken", boom))
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        _login(client)
        response = client.get("/healthz-broken")
    assert response.status_code == 500
    assert response.headers["content-security-policy"] == DEFAULT_CSP


def test_the_generated_secret_key_is_private_and_kept(store: Store) -> None:
    create_app(store)
    path = default_secret_path(store)
    key = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    create_app(store)
    assert path.read_text() == key
    assert len(key.strip()) >= 32


def test_a_configured_secret_key_signs_sessions(store: Store, tmp_path: Path) -> None:
    first = create_app(store, secret_key="k" * 40)
    with TestClient(first, follow_redirects=False) as client:
        _login(client)
        cookie = client.cookies[SESSION_COOKIE]
    with TestClient(create_app(store, secret_key="k" * 40), follow_redirects=False) as same:
        same.cookies.set(SESSION_COOKIE, cookie)
        assert same.get("/").status_code == 200
    with TestClient(create_app(store, secret_key="z" * 40), follow_redirects=False) as other:
        other.cookies.set(SESSION_COOKIE, cookie)
        assert other.get("/").status_code == 303
