"""Viewer access: argon2 passwords, signed sessions that logout ends, CSRF tokens, login backoff, and scoped API
bearer tokens.

Every path is private unless ``is_public`` says otherwise: ``AuthGateMiddleware`` finds the user (a bearer token
under ``/api/``, else the session) and turns anonymous requests away, so a new route is protected by default; a
token must also hold the scope ``required_scope`` names. Routes read the user with ``current_user`` /
``require_user``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
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

from store import LoginView, Store, StoreError, TokenGrant

#: The shortest password ``mailassist user set-password`` accepts.
MIN_PASSWORD_LENGTH = 10
#: Every API token starts with this, so a leaked one is easy to recognise (and to grep for).
TOKEN_PREFIX = "ma_"  # noqa: S105 - a public marker, not a secret
SESSION_COOKIE = "mailassist_session"
#: A session ends this long after login, whatever the activity (the cookie's signature carries its age); logout
#: and a new password end it sooner (the cookie names the user's session generation, which they move on).
SESSION_MAX_AGE = 7 * 24 * 3600
#: What an API token may be allowed to do: ``read`` the API; ``ingest`` and ``directory:write`` its write routes
#: (``web.ingest_api``, ``web.directory_api``).
TOKEN_SCOPES = ("read", "ingest", "directory:write")
#: The scope a bearer token needs for a write under ``/api/``: ``(method, path prefix, scope)``, first match wins. A
#: write route added under ``/api/`` declares its scope here; a write matching no entry is open to no token.
API_WRITE_SCOPES: tuple[tuple[str, str, str], ...] = (
    ("POST", "/api/ingest", "ingest"),
    *((method, "/api/directory/", "directory:write") for method in ("PUT", "POST", "DELETE")),
)
#: The login form is a few hundred bytes; anything much larger is not our form.
MAX_FORM_BYTES = 8192
#: Where the user a request authenticated as is kept in the ASGI scope.
USER_KEY = "mailassist.user"
#: How it authenticated, in the ASGI scope too: ``token`` or ``session`` (write routes take tokens only).
AUTH_VIA_KEY = "mailassist.via"

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


# --- login throttling --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """How one throttle key slows down: ``free`` failures cost nothing, then each failure doubles the wait before
    the next try, from ``first`` up to ``cap`` seconds."""

    free: int
    first: float = 1.0
    cap: float = 15 * 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the last of ``failures`` failures."""
        if failures <= self.free:
            return 0.0
        return min(self.cap, math.ldexp(self.first, min(failures - self.free - 1, 60)))


#: Per email and client address: the guesser's own key, the one that slows a single attacker down.
PAIR_BACKOFF = Backoff(free=5)
#: Per client address, over every email (so one address cannot try many accounts); an office behind one NAT
#: shares it, hence the higher allowance.
ADDRESS_BACKOFF = Backoff(free=20)
#: Per email, from every address (guessing spread over many addresses): the cap is short, so failures elsewhere
#: keep the real user waiting a minute at most; and an address the user logged in from is not held back by it.
ACCOUNT_BACKOFF = Backoff(free=10, cap=60.0)
#: A key's failures are forgotten this long after its latest one.
THROTTLE_MEMORY = 60 * 60.0
#: An email and address pair that logged in is known for this long: the per-account and per-address keys spare it.
KNOWN_PAIR_MEMORY = 30 * 24 * 3600.0


class LoginThrottle:
    """Failed logins counted per email and address pair, per address and per email, in memory, with backoff.

    Past a key's free failures, each further failure doubles the wait before that key may try again; a login
    while some key waits gets a ``Retry-After`` instead of a password check, right password or not. No key ever
    locks an account for good: waits are capped, and the account-wide key (the only one another address can move)
    is capped at a minute and skipped for pairs that logged in before. Used from the event loop only; each web
    process counts on its own.
    """

    def __init__(
        self,
        *,
        pair: Backoff = PAIR_BACKOFF,
        address: Backoff = ADDRESS_BACKOFF,
        account: Backoff = ACCOUNT_BACKOFF,
        memory: float = THROTTLE_MEMORY,
        known_memory: float = KNOWN_PAIR_MEMORY,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.pair, self.address, self.account = pair, address, account
        self.memory = memory
        self.known_memory = known_memory
        self.clock = clock
        self.max_keys = max_keys
        #: key -> (failures, time of the latest)
        self._failures: dict[str, tuple[int, float]] = {}
        #: pair key -> time of its latest successful login
        self._known: dict[str, float] = {}

    def _keys(self, email: str, address: str) -> list[tuple[str, Backoff]]:
        return [
            (f"pair:{email}\n{address}", self.pair),
            (f"address:{address}", self.address),
            (f"email:{email}", self.account),
        ]

    def _entry(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry[1] >= self.memory:
            del self._failures[key]
            return None
        return entry

    def _is_known(self, pair_key: str, now: float) -> bool:
        seen = self._known.get(pair_key)
        if seen is not None and now - seen >= self.known_memory:
            del self._known[pair_key]
            return False
        return seen is not None

    def retry_after(self, email: str, address: str) -> int | None:
        """Seconds until a login for ``email`` from ``address`` may be tried again, or ``None`` if it may now."""
        now = self.clock()
        keys = self._keys(email, address)
        if self._is_known(keys[0][0], now):
            keys = keys[:1]
        wait = 0.0
        for key, backoff in keys:
            entry = self._entry(key, now)
            if entry is not None:
                failures, latest = entry
                wait = max(wait, latest + backoff.delay(failures) - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def add_failure(self, email: str, address: str) -> None:
        """Count one failed login on each of its keys."""
        now = self.clock()
        if len(self._failures) + 3 > self.max_keys:
            self._prune(now)
        for key, _ in self._keys(email, address):
            entry = self._entry(key, now)
            self._failures.pop(key, None)  # re-inserted: the dict keeps the most recently failed last
            self._failures[key] = ((entry[0] if entry else 0) + 1, now)

    def add_success(self, email: str, address: str) -> None:
        """Forget the failures of the pair and of the email after a login, and know the pair from now on (the
        address keeps its count: one good account must not wipe a spray over others)."""
        now = self.clock()
        pair_key, _ = self._keys(email, address)[0]
        self._failures.pop(pair_key, None)
        self._failures.pop(f"email:{email}", None)
        if len(self._known) >= self.max_keys:
            for key in list(self._known)[: len(self._known) - self.max_keys + 1]:
                del self._known[key]
        self._known.pop(pair_key, None)
        self._known[pair_key] = now  # re-inserted: the dict keeps the most recent last

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._entry(key, now)
        # Still full: drop the oldest keys rather than grow without bound.
        for key in list(self._failures)[: max(0, len(self._failures) - self.max_keys + 3)]:
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
            refusal = JSONResponse({"error": "database unavailable"}, status_code=503, headers={"Retry-After": "60"})
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


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


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
            error = f"Too many failed logins. Try again in {_duration(wait)}."
            return form(request, 429, email=email, next_path=next_path, error=error, headers={"Retry-After": str(wait)})
        user = await run_in_threadpool(store.auth.get_login, email) if email else None
        if not await run_in_threadpool(verify, user, fields.get("password", "")) or user is None:
            throttle.add_failure(email, address)
            return form(request, 401, email=email, next_path=next_path, error="Wrong email or password.")
        throttle.add_success(email, address)
        password_hash = user.password_hash
        assert password_hash is not None
        if needs_rehash(password_hash):
            stronger = await run_in_threadpool(hash_password, fields.get("password", ""))
            # The same password, stronger: not a password change, so the user's other sessions and tokens stay.
            await run_in_threadpool(store.auth.mark_password_rehashed, user.id, password_hash, stronger)
        request.session.clear()
        request.session.update(uid=user.id, gen=user.session_generation, csrf=secrets.token_urlsafe(32))
        return RedirectResponse(next_path, status_code=303)

    async def logout(request: Request) -> Response:
        fields = await read_form(request)
        session = request.session
        if "uid" in session and not csrf_valid(request, fields):
            return Response("Invalid or missing form token.", status_code=403, media_type="text/plain")
        uid, generation = session.get("uid"), session.get("gen")
        if isinstance(uid, int) and isinstance(generation, int):
            # Ends this user's sessions everywhere: a copied cookie must not outlive the logout.
            try:
                await run_in_threadpool(store.auth.end_sessions, uid, generation)
            except StoreError:
                message = "Logging out failed: the database is unavailable. Please try again."
                return Response(message, status_code=503, media_type="text/plain")
        session.clear()
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
