"""Read-only methods, public paths, security headers and the session secret key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from store import Store
from tests.web.auth.support import post_login
from web.app import SecurityHeadersMiddleware, create_app, default_secret_path
from web.auth.middleware import SESSION_COOKIE
from web.headers import DEFAULT_CSP


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
    post_login(client)
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
    post_login(client)
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
        post_login(client)
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
        post_login(client)
        cookie = client.cookies[SESSION_COOKIE]
    with TestClient(create_app(store, secret_key="k" * 40), follow_redirects=False) as same:
        same.cookies.set(SESSION_COOKIE, cookie)
        assert same.get("/").status_code == 200
    with TestClient(create_app(store, secret_key="z" * 40), follow_redirects=False) as other:
        other.cookies.set(SESSION_COOKIE, cookie)
        assert other.get("/").status_code == 303
