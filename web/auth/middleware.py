"""Sessions and the gate: every path is private unless ``is_public`` says otherwise. ``AuthGateMiddleware`` finds the
user (a bearer token under ``/api/``, else the session) and turns anonymous requests away, so a new route is
protected by default; a token must also hold the scope ``required_scope`` names. Routes read the user with
``current_user`` / ``require_user``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from store import LoginView, Store, StoreError, TokenGrant
from web.auth.passwords import hash_api_token
from web.errors import UNAVAILABLE, AuthRequiredError, is_api, json_refusal

SESSION_COOKIE = "mailassist_session"
#: A session ends this long after login, whatever the activity (the cookie's signature carries its age); logout
#: and a new password end it sooner (the cookie names the user's session generation, which they move on).
SESSION_MAX_AGE = 7 * 24 * 3600
#: The scope a bearer token needs for a write under ``/api/``: ``(method, path prefix, scope)``, first match wins. A
#: write route added under ``/api/`` declares its scope here; a write matching no entry is open to no token.
API_WRITE_SCOPES: tuple[tuple[str, str, str], ...] = (
    ("POST", "/api/ingest", "ingest"),
    *((method, "/api/directory/", "directory:write") for method in ("PUT", "POST", "DELETE")),
)
#: Where the user a request authenticated as is kept in the ASGI scope.
USER_KEY = "mailassist.user"
#: How it authenticated, in the ASGI scope too: ``token`` or ``session`` (write routes take tokens only).
AUTH_VIA_KEY = "mailassist.via"

_PUBLIC_PATHS = frozenset({"/login", "/logout", "/healthz", "/metrics", "/api/schema"})
_PUBLIC_PREFIXES = ("/static/",)

SecureCookies = Literal["auto", "always", "never"]


# --- the session signing key -------------------------------------------------------------------------------------


def load_secret_key(path: Path) -> str:
    """The key in ``path``; created once (mode 0600) with 32 random bytes when the file does not exist yet."""
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        # link() fails when another process got there first: then everybody uses that process's key.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise OSError(f"web secret key file is shorter than 32 characters: {path}")
    return key


# --- sessions, the gate and the user ------------------------------------------------------------------------------


class SessionsMiddleware:
    """Starlette's signed session cookie (HttpOnly, SameSite=Lax), marked Secure per request or always or never."""

    def __init__(self, app: ASGIApp, *, secret_key: str, secure_cookies: SecureCookies = "auto") -> None:
        options: dict[str, Any] = {
            "secret_key": secret_key,
            "session_cookie": SESSION_COOKIE,
            "max_age": SESSION_MAX_AGE,
            "same_site": "lax",
        }
        self.secure_cookies = secure_cookies
        self.plain = SessionMiddleware(app, https_only=False, **options)
        self.secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        https = scope.get("scheme") in ("https", "wss")
        secure = self.secure_cookies == "always" or (self.secure_cookies == "auto" and https)
        await (self.secure if secure else self.plain)(scope, receive, send)


def is_public(path: str) -> bool:
    """Whether ``path`` is served without a login: the login itself, health, metrics and static files."""
    return path in _PUBLIC_PATHS or path.startswith(_PUBLIC_PREFIXES)


def current_user(request: Request) -> LoginView | None:
    """The user this request authenticated as; ``None`` on public paths and for anonymous requests."""
    user = request.scope.get(USER_KEY)
    return user if isinstance(user, LoginView) else None


def require_user(request: Request) -> LoginView:
    """The request's user; raises ``AuthRequiredError`` (a login redirect, or 401 under ``/api/``) if there is none."""
    user = current_user(request)
    if user is None:
        raise AuthRequiredError
    return user


def required_scope(method: str, path: str) -> str | None:
    """The scope a bearer token needs for ``method`` on ``path`` under ``/api/``: ``read`` to read, else what
    ``API_WRITE_SCOPES`` declares; ``None`` when no token may (sessions are not scoped)."""
    if method in ("GET", "HEAD"):
        return "read"
    for write_method, prefix, scope in API_WRITE_SCOPES:
        if method == write_method and path.startswith(prefix):
            return scope
    return None


def insufficient_scope_response(method: str, path: str, scope: str | None) -> Response:
    """403 JSON for a valid token that lacks the scope a request needs (RFC 6750's ``insufficient_scope``)."""
    if scope is None:
        error = f"no API token may {method} {path}"
        challenge = 'Bearer realm="mailassist", error="insufficient_scope"'
    else:
        error = f"this token lacks the '{scope}' scope (see 'mailassist token create --scope')"
        challenge = f'Bearer realm="mailassist", error="insufficient_scope", scope="{scope}"'
    return JSONResponse({"error": error}, status_code=403, headers={"WWW-Authenticate": challenge})


def unauthenticated_response(request: Request, error: str = "authentication required") -> Response:
    """401 JSON for the API; for pages a redirect to the login form, coming back here afterwards."""
    if is_api(request.url.path):
        challenge = 'Bearer realm="mailassist"'
        if "authorization" in request.headers:
            challenge += ', error="invalid_token"'
        return JSONResponse({"error": error}, status_code=401, headers={"WWW-Authenticate": challenge})
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)


def auth_required_response(request: Request, exc: Exception) -> Response:
    """The exception handler for ``AuthRequiredError``."""
    return unauthenticated_response(request)


class AuthGateMiddleware:
    """Authenticates every request to a private path, and answers it itself when that fails."""

    def __init__(self, app: ASGIApp, *, store: Store, secret_key: str) -> None:
        self.app = app
        self.store = store
        self.secret_key = secret_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            user, refusal = await self._authenticate(request)
        except StoreError:
            refusal = json_refusal(UNAVAILABLE)
        if user is None or refusal is not None:
            await (refusal or unauthenticated_response(request))(scope, receive, send)
            return
        scope[USER_KEY] = user
        scope[AUTH_VIA_KEY] = "token" if "authorization" in request.headers and is_api(scope["path"]) else "session"
        await self.app(scope, receive, send)

    async def _authenticate(self, request: Request) -> tuple[LoginView | None, Response | None]:
        authorization = request.headers.get("authorization")
        if authorization is not None and is_api(request.url.path):
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None, unauthenticated_response(request, "expected 'Authorization: Bearer TOKEN'")
            grant: TokenGrant | None = await run_in_threadpool(
                self.store.auth.find_token_user, hash_api_token(token.strip())
            )
            if grant is None:
                return None, unauthenticated_response(request, "invalid, expired or revoked token")
            scope = required_scope(request.method, request.url.path)
            if scope is None or scope not in grant.scopes:
                return None, insufficient_scope_response(request.method, request.url.path, scope)
            return grant.user, None
        if is_api(request.url.path) and request.method not in ("GET", "HEAD"):
            # DESIGN.md invariant 7: a write under /api/ takes a scoped token, never a session cookie.
            return None, unauthenticated_response(request, "writes take an API token, never a session")
        return await self._session_user(request), None

    async def _session_user(self, request: Request) -> LoginView | None:
        session = request.session
        uid, generation = session.get("uid"), session.get("gen")
        if not isinstance(uid, int) or not isinstance(generation, int):
            return None
        user = await run_in_threadpool(self.store.auth.get_login_by_id, uid)
        if user is None or user.password_hash is None or user.session_generation != generation:
            # The user is gone, has no password any more, logged out or has a new password since this session began.
            session.pop("uid", None)
            session.pop("gen", None)
            return None
        return user
