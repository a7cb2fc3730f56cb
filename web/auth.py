"""Viewer access: argon2 passwords, signed sessions with CSRF tokens, login throttling, and API bearer tokens.

Every path is private unless ``is_public`` says otherwise: ``AuthGateMiddleware`` finds the user (a bearer token
under ``/api/``, else the session) and turns anonymous requests away, so a new route is protected by default.
Routes read the user with ``current_user`` / ``require_user``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import os
import secrets
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from store import LoginView, Store, StoreError

#: The shortest password ``mailassist user set-password`` accepts.
MIN_PASSWORD_LENGTH = 10
#: Every API token starts with this, so a leaked one is easy to recognise (and to grep for).
TOKEN_PREFIX = "ma_"  # noqa: S105 - a public marker, not a secret
SESSION_COOKIE = "mailassist_session"
#: A session ends this long after login, whatever the activity (the cookie's signature carries its age).
SESSION_MAX_AGE = 7 * 24 * 3600
#: Failed logins allowed per email, and per client address (an office behind one NAT shares it), in the window.
FAILURES_PER_EMAIL = 5
FAILURES_PER_ADDRESS = 20
THROTTLE_WINDOW = 15 * 60.0
#: The login form is a few hundred bytes; anything much larger is not our form.
MAX_FORM_BYTES = 8192
#: Where the user a request authenticated as is kept in the ASGI scope.
USER_KEY = "mailassist.user"

_PUBLIC_PATHS = frozenset({"/login", "/logout", "/healthz", "/metrics", "/api/schema"})
_PUBLIC_PREFIXES = ("/static/",)
#: argon2id with the library's defaults (RFC 9106's low-memory profile); ``needs_rehash`` follows them as they move.
_HASHER = PasswordHasher()

SecureCookies = Literal["auto", "always", "never"]


class PasswordPolicyError(ValueError):
    """A new password that is empty or too short; ``str()`` says which."""


class AuthRequiredError(Exception):
    """Raised by ``require_user`` when nobody is logged in; answered with a login redirect or a 401 for the API."""


# --- passwords and tokens ----------------------------------------------------------------------------------------


def check_new_password(password: str) -> None:
    """Raise ``PasswordPolicyError`` unless ``password`` is acceptable as a new password."""
    if not password:
        raise PasswordPolicyError("the password is empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password is too short: at least {MIN_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, salt and parameters included."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; a malformed hash matches nothing."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (then it is replaced at the next login)."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def new_api_token() -> str:
    """A new random bearer token: ``ma_`` and 32 random bytes, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    """What the store keeps of a token: its SHA-256, hex (tokens are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


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


def session_version(secret_key: str, password_hash: str) -> str:
    """A fingerprint of the password hash kept in the session: setting a new password ends older sessions."""
    return hmac.new(secret_key.encode("utf-8"), password_hash.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


# --- login throttling --------------------------------------------------------------------------------------------


class LoginThrottle:
    """Failed logins per email and per client address, in memory, in a sliding window.

    Past the limit, every login for that email or from that address waits until enough failures leave the
    window, right password or not. Used from the event loop only; each web process counts on its own.
    """

    def __init__(
        self,
        *,
        per_email: int = FAILURES_PER_EMAIL,
        per_address: int = FAILURES_PER_ADDRESS,
        window: float = THROTTLE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.per_email = per_email
        self.per_address = per_address
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _keys(self, email: str, address: str) -> list[tuple[str, int]]:
        return [(f"email:{email}", self.per_email), (f"address:{address}", self.per_address)]

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, email: str, address: str) -> int | None:
        """Seconds until a login for ``email`` from ``address`` may be tried again, or ``None`` if it may now."""
        now = self.clock()
        wait = 0.0
        for key, limit in self._keys(email, address):
            times = self._recent(key, now)
            if len(times) >= limit:
                wait = max(wait, times[len(times) - limit] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def add_failure(self, email: str, address: str) -> None:
        """Count one failed login."""
        now = self.clock()
        if len(self._failures) >= self.max_keys:
            self._prune(now)
        for key, _ in self._keys(email, address):
            self._failures.setdefault(key, deque()).append(now)

    def clear(self, email: str) -> None:
        """Forget an email's failures after it logged in (its address keeps its count)."""
        self._failures.pop(f"email:{email}", None)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        # Still full: drop the oldest keys rather than grow without bound.
        for key in list(self._failures)[: max(0, len(self._failures) - self.max_keys + 1)]:
            del self._failures[key]


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


def is_api(path: str) -> bool:
    """Whether ``path`` is part of the JSON API (bearer tokens, JSON errors)."""
    return path == "/api" or path.startswith("/api/")


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
            user, error = await self._authenticate(request)
        except StoreError:
            response: Response = JSONResponse({"error": "database unavailable"}, status_code=503)
            await response(scope, receive, send)
            return
        if user is None:
            await unauthenticated_response(request, error)(scope, receive, send)
            return
        scope[USER_KEY] = user
        await self.app(scope, receive, send)

    async def _authenticate(self, request: Request) -> tuple[LoginView | None, str]:
        authorization = request.headers.get("authorization")
        if authorization is not None and is_api(request.url.path):
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None, "expected 'Authorization: Bearer TOKEN'"
            user = await run_in_threadpool(self.store.find_token_user, hash_api_token(token.strip()))
            return user, "invalid or revoked token"
        return await self._session_user(request), "authentication required"

    async def _session_user(self, request: Request) -> LoginView | None:
        session = request.session
        uid, version = session.get("uid"), session.get("pwv")
        if not isinstance(uid, int) or not isinstance(version, str):
            return None
        user = await run_in_threadpool(self.store.get_login_by_id, uid)
        if user is None or user.password_hash is None:
            valid = False
        else:
            valid = hmac.compare_digest(version, session_version(self.secret_key, user.password_hash))
        if not valid:
            # The user is gone or has a new password since this session began.
            session.pop("uid", None)
            session.pop("pwv", None)
            return None
        return user


# --- forms, CSRF and the login routes ---------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use; every form that POSTs carries it."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_valid(request: Request, form: dict[str, str]) -> bool:
    """Whether the form's ``csrf_token`` is this session's token."""
    expected = request.session.get("csrf")
    given = form.get("csrf_token", "")
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site, else ``/``: the login never redirects elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return value


async def read_form(request: Request, *, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The fields of a small urlencoded form (first value of each); any other body reads as an empty form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, "form too large")
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise HTTPException(400, "too many form fields") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def client_address(request: Request) -> str:
    """The client's IP address (the proxy's own view of it when uvicorn trusts ``X-Forwarded-For``)."""
    return request.client.host if request.client else "unknown"


def auth_routes(store: Store, templates: Jinja2Templates, *, secret_key: str, throttle: LoginThrottle) -> list[Route]:
    """``GET``/``POST /login``, ``POST /logout`` and ``GET /api/me``."""
    dummy_hash: list[str] = []

    def verify(user: LoginView | None, password: str) -> bool:
        # Unknown users and users without a password cost one argon2 verification too: timing tells nothing.
        if not dummy_hash:
            dummy_hash.append(hash_password(secrets.token_urlsafe(16)))
        known = user is not None and user.password_hash is not None
        password_hash = user.password_hash if user is not None and user.password_hash is not None else dummy_hash[0]
        return verify_password(password_hash, password) and known

    def form(
        request: Request,
        status: int,
        *,
        email: str = "",
        next_path: str = "/",
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        context = {"csrf_token": csrf_token(request), "email": email, "next": next_path, "error": error}
        return templates.TemplateResponse(request, "login.html", context, status_code=status, headers=headers)

    async def login_page(request: Request) -> Response:
        return form(request, 200, next_path=safe_next(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        fields = await read_form(request)
        email = fields.get("email", "").strip().lower()[:320]
        next_path = safe_next(fields.get("next"))
        if not csrf_valid(request, fields):
            error = "This form has expired. Please log in again."
            return form(request, 403, email=email, next_path=next_path, error=error)
        address = client_address(request)
        wait = throttle.retry_after(email, address)
        if wait is not None:
            minutes = math.ceil(wait / 60)
            error = f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
            return form(request, 429, email=email, next_path=next_path, error=error, headers={"Retry-After": str(wait)})
        user = await run_in_threadpool(store.get_login, email) if email else None
        if not await run_in_threadpool(verify, user, fields.get("password", "")) or user is None:
            throttle.add_failure(email, address)
            return form(request, 401, email=email, next_path=next_path, error="Wrong email or password.")
        throttle.clear(email)
        password_hash = user.password_hash
        assert password_hash is not None
        if needs_rehash(password_hash):
            password_hash = await run_in_threadpool(hash_password, fields.get("password", ""))
            await run_in_threadpool(store.set_password_hash, user.email, password_hash)
        request.session.clear()
        request.session.update(
            uid=user.id, pwv=session_version(secret_key, password_hash), csrf=secrets.token_urlsafe(32)
        )
        return RedirectResponse(next_path, status_code=303)

    async def logout(request: Request) -> Response:
        fields = await read_form(request)
        if "uid" in request.session and not csrf_valid(request, fields):
            return Response("Invalid or missing form token.", status_code=403, media_type="text/plain")
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def me(request: Request) -> Response:
        user = require_user(request)
        return JSONResponse(
            {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "team": user.team}
        )

    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/me", me, methods=["GET"]),
    ]
