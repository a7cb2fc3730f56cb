"""Viewer access: login, CSRF, login backoff, logout, scoped bearer tokens, read-only methods and security headers."""

from __future__ import annotations

import base64
import json
import re
import stat
from collections.abc import Iterator
from datetime import timedelta
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

import web.auth.middleware
import web.auth.routes
from store import Store
from store.models import ApiToken, utcnow
from store.shapes import UserRow
from web.app import SecurityHeadersMiddleware, create_app, default_secret_path
from web.auth.middleware import SESSION_COOKIE
from web.auth.passwords import hash_api_token, hash_password, new_api_token
from web.auth.routes import safe_next
from web.auth.throttle import Backoff, LoginThrottle
from web.headers import DEFAULT_CSP

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
    sqlite_store.directory.apply_users(
        [
            UserRow(line=2, email="anna@example.com", name="Anna Nowak", team="Sales PL", role="team"),
            UserRow(line=3, email="boss@example.com", name="Boss", team=None, role="all"),
            UserRow(line=4, email="piotr@example.com", name="Piotr", team="Sales PL", role="own"),
        ]
    )
    hashed = hash_password(PASSWORD)
    assert sqlite_store.auth.set_password_hash("anna@example.com", hashed)
    assert sqlite_store.auth.set_password_hash("boss@example.com", hashed)
    return sqlite_store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(store: Store, clock: Clock) -> Iterator[TestClient]:
    app = create_app(store, login_throttle=LoginThrottle(clock=clock))
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
    real = web.auth.routes.verify_password

    def counting(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(web.auth.routes, "verify_password", counting)
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


def test_failures_back_off_and_the_right_password_works_once_the_wait_is_over(client: TestClient, clock: Clock) -> None:
    # Given five free failures, then a sixth
    for _ in range(6):
        assert _login(client, password="guess guess").status_code == 401
    # Then even the right password waits, for a second only
    throttled = _login(client)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert "Too many failed logins. Try again in 1 second." in throttled.text
    # And another user from the same address is not held back by Anna's failures
    assert _login(client, email="boss@example.com").status_code == 303
    client.cookies.clear()

    clock.now += 1  # When the second has passed
    assert _login(client).status_code == 303


def test_each_further_failure_doubles_the_wait_up_to_the_cap(clock: Clock) -> None:
    throttle = LoginThrottle(pair=Backoff(free=2, first=1.0, cap=8.0), clock=clock)
    waits = []
    for _ in range(8):
        throttle.add_failure("anna@example.com", "192.0.2.1")
        waits.append(throttle.retry_after("anna@example.com", "192.0.2.1"))
    assert waits == [None, None, 1, 2, 4, 8, 8, 8]
    clock.now += 8
    assert throttle.retry_after("anna@example.com", "192.0.2.1") is None


def test_failures_are_forgotten_after_an_hour_of_quiet(clock: Clock) -> None:
    throttle = LoginThrottle(pair=Backoff(free=1), clock=clock)
    for _ in range(5):
        throttle.add_failure("anna@example.com", "192.0.2.1")
    clock.now += 3600
    throttle.add_failure("anna@example.com", "192.0.2.1")
    assert throttle.retry_after("anna@example.com", "192.0.2.1") is None  # a first failure again: free


def test_an_attacker_elsewhere_keeps_the_user_out_for_a_minute_at_most(store: Store, clock: Clock) -> None:
    app = create_app(store, login_throttle=LoginThrottle(clock=clock))

    def at(address: str) -> TestClient:
        return TestClient(app, follow_redirects=False, client=(address, 4000))

    # Given Anna logged in from her office once
    with at("198.51.100.7") as office:
        assert _login(office).status_code == 303
    # And an attacker guessing at her password from twenty-five addresses, waiting out every Retry-After
    failures = 0
    for n in range(25):
        with at(f"203.0.113.{n}") as attacker:
            response = _login(attacker, password="guess guess")
            if response.status_code == 429:
                clock.now += int(response.headers["retry-after"])
                response = _login(attacker, password="guess guess")
            assert response.status_code == 401
            failures += 1
    assert failures == 25
    # Then from a new address Anna waits a minute at most
    with at("192.0.2.55") as cafe:
        throttled = _login(cafe)
        assert throttled.status_code == 429
        assert 0 < int(throttled.headers["retry-after"]) <= 60
    # And from her office, where she logged in before, she logs in at once
    with at("198.51.100.7") as office:
        assert _login(office).status_code == 303


def test_one_address_trying_many_accounts_backs_off(store: Store, clock: Clock) -> None:
    throttle = LoginThrottle(address=Backoff(free=3), clock=clock)
    app = create_app(store, login_throttle=throttle)
    with TestClient(app, follow_redirects=False, client=("203.0.113.7", 4000)) as client:
        for n in range(4):
            assert _login(client, email=f"guess{n}@example.com").status_code == 401
        assert _login(client).status_code == 429
    with TestClient(app, follow_redirects=False, client=("198.51.100.1", 4000)) as elsewhere:
        assert _login(elsewhere).status_code == 303


def test_a_successful_login_clears_the_failures_of_the_email(client: TestClient) -> None:
    for _ in range(5):
        _login(client, password="guess guess")
    assert _login(client).status_code == 303
    client.cookies.clear()
    for _ in range(5):
        assert _login(client, password="guess guess").status_code == 401
    assert _login(client).status_code == 303


def test_throttle_memory_is_bounded(clock: Clock) -> None:
    throttle = LoginThrottle(max_keys=10, clock=clock)
    for n in range(100):
        throttle.add_failure(f"user{n}@example.com", f"10.0.0.{n}")
        throttle.add_success(f"user{n}@example.com", f"10.0.0.{n}")
    assert len(throttle._failures) <= 10
    assert len(throttle._known) <= 10


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


def _logout(client: TestClient) -> httpx2.Response:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert token is not None
    return client.post("/logout", data={"csrf_token": token.group(1)})


def test_logout_clears_the_session(client: TestClient) -> None:
    _login(client)
    response = _logout(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_logout_ends_the_session_even_for_a_copy_of_the_cookie(client: TestClient, store: Store) -> None:
    # Given Anna logged in, her cookie copied, and a second session of hers elsewhere
    _login(client)
    copied = client.cookies[SESSION_COOKIE]
    with TestClient(create_app(store), follow_redirects=False) as elsewhere:
        _login(elsewhere)
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
    assert _login(client).status_code == 303
    assert client.get("/").status_code == 200


def test_logging_out_a_stale_session_does_not_end_the_current_ones(client: TestClient, store: Store) -> None:
    # Given a cookie from a session that already ended, and a new login
    _login(client)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert token is not None
    stale = client.cookies[SESSION_COOKIE]
    _logout(client)
    client.cookies.clear()
    _login(client)
    # When the stale cookie posts a logout
    with TestClient(create_app(store), follow_redirects=False) as old:
        old.cookies.set(SESSION_COOKIE, stale)
        assert old.post("/logout", data={"csrf_token": token.group(1)}).status_code == 303
    # Then the new session goes on
    assert client.get("/").status_code == 200


def test_logout_needs_the_csrf_token(client: TestClient) -> None:
    _login(client)
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/").status_code == 200  # still logged in


def test_a_new_password_ends_sessions_and_revokes_all_but_service_tokens(client: TestClient, store: Store) -> None:
    # Given Anna logged in, with an ordinary token and a service token
    anna = store.auth.get_login("anna@example.com")
    assert anna is not None
    laptop, service = new_api_token(), new_api_token()
    store.auth.add_api_token(anna.id, "laptop", hash_api_token(laptop))
    store.auth.add_api_token(anna.id, "crm sync", hash_api_token(service), service=True)
    _login(client)
    assert client.get("/").status_code == 200
    # When her password is changed
    store.auth.set_password_hash("anna@example.com", hash_password("another long password"))
    # Then her session is over, the ordinary token is revoked, and the service token still reads the API
    assert client.get("/").status_code == 303
    client.cookies.clear()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {laptop}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {service}"}).status_code == 200


def test_a_forged_cookie_is_anonymous(client: TestClient, store: Store) -> None:
    _login(client)
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
        _login(earlier)  # Given a session from before the upgrade
        assert _login(client).status_code == 303
        login = store.auth.get_login("anna@example.com")
        assert login is not None and login.password_hash != weak
        assert login.password_hash is not None and "m=65536" in login.password_hash
        assert client.get("/").status_code == 200  # the session follows the new hash
        # The same password, stronger hashed, is no password change: other sessions and tokens go on
        assert earlier.get("/").status_code == 200
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_only_role_all_sees_the_ingest_counts(client: TestClient) -> None:
    _login(client)
    assert "Ingest log by status" not in client.get("/").text
    client.cookies.clear()
    _login(client, email="boss@example.com")
    assert "Ingest log by status" in client.get("/").text


# --- API tokens -----------------------------------------------------------------------------------------------------


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
    _login(client)
    assert client.get("/api/me").json()["email"] == "anna@example.com"


def test_bearer_tokens_do_not_open_html_pages(client: TestClient, store: Store) -> None:
    anna = store.auth.get_login("anna@example.com")
    assert anna is not None
    token = new_api_token()
    store.auth.add_api_token(anna.id, "test", hash_api_token(token))
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
