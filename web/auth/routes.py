"""The login routes: ``GET``/``POST /login`` with its CSRF token and backoff, ``POST /logout`` that ends the user's
sessions everywhere, and ``GET /api/me``.
"""

from __future__ import annotations

import hmac
import math
import secrets
from urllib.parse import parse_qsl, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from store import LoginView, Store, StoreError
from store.idn import stored_email
from web.auth.middleware import require_user
from web.auth.passwords import hash_password, needs_rehash, verify_password
from web.auth.throttle import LoginThrottle

#: The login form is a few hundred bytes; anything much larger is not our form.
MAX_FORM_BYTES = 8192


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


class LoginRoutes:
    """The handlers over one store, its templates and the login throttle; ``auth_routes`` gives them their paths."""

    def __init__(self, store: Store, templates: Jinja2Templates, throttle: LoginThrottle) -> None:
        self.store = store
        self.templates = templates
        self.throttle = throttle
        self._dummy_hash: str | None = None

    def verify(self, user: LoginView | None, password: str) -> bool:
        """Whether ``password`` is ``user``'s (sync). Unknown users and users without a password cost one argon2
        verification too: timing tells nothing."""
        if self._dummy_hash is None:
            self._dummy_hash = hash_password(secrets.token_urlsafe(16))
        known = user is not None and user.password_hash is not None
        password_hash = user.password_hash if user is not None and user.password_hash is not None else self._dummy_hash
        return verify_password(password_hash, password) and known

    def form(
        self,
        request: Request,
        status: int,
        *,
        email: str = "",
        next_path: str = "/",
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """The login form, with this session's CSRF token, what was typed, and what went wrong."""
        context = {"csrf_token": csrf_token(request), "email": email, "next": next_path, "error": error}
        return self.templates.TemplateResponse(request, "login.html", context, status_code=status, headers=headers)

    async def login_page(self, request: Request) -> Response:
        """``GET /login``."""
        return self.form(request, 200, next_path=safe_next(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        """``POST /login``: CSRF first, then the throttle, then the password; a new session on success."""
        fields = await read_form(request)
        typed = fields.get("email", "").strip()[:320]
        # The throttle counts, and the store looks up, one form of an address however it was typed (case, IDN)
        email = stored_email(typed)
        next_path = safe_next(fields.get("next"))
        if not csrf_valid(request, fields):
            error = "This form has expired. Please log in again."
            return self.form(request, 403, email=typed, next_path=next_path, error=error)
        address = client_address(request)
        wait = self.throttle.retry_after(email, address)
        if wait is not None:
            error = f"Too many failed logins. Try again in {_duration(wait)}."
            headers = {"Retry-After": str(wait)}
            return self.form(request, 429, email=typed, next_path=next_path, error=error, headers=headers)
        user = await run_in_threadpool(self.store.auth.get_login, email) if email else None
        if not await run_in_threadpool(self.verify, user, fields.get("password", "")) or user is None:
            self.throttle.add_failure(email, address)
            return self.form(request, 401, email=typed, next_path=next_path, error="Wrong email or password.")
        self.throttle.add_success(email, address)
        await self._rehash(user, fields.get("password", ""))
        request.session.clear()
        request.session.update(uid=user.id, gen=user.session_generation, csrf=secrets.token_urlsafe(32))
        return RedirectResponse(next_path, status_code=303)

    async def _rehash(self, user: LoginView, password: str) -> None:
        """Replace a hash made with weaker parameters than today's, now that the password is known."""
        password_hash = user.password_hash
        assert password_hash is not None
        if needs_rehash(password_hash):
            stronger = await run_in_threadpool(hash_password, password)
            # The same password, stronger: not a password change, so the user's other sessions and tokens stay.
            await run_in_threadpool(self.store.auth.mark_password_rehashed, user.id, password_hash, stronger)

    async def logout(self, request: Request) -> Response:
        """``POST /logout``: ends the user's sessions everywhere, not just this cookie."""
        fields = await read_form(request)
        session = request.session
        if "uid" in session and not csrf_valid(request, fields):
            return Response("Invalid or missing form token.", status_code=403, media_type="text/plain")
        uid, generation = session.get("uid"), session.get("gen")
        if isinstance(uid, int) and isinstance(generation, int):
            # Ends this user's sessions everywhere: a copied cookie must not outlive the logout.
            try:
                await run_in_threadpool(self.store.auth.end_sessions, uid, generation)
            except StoreError:
                message = "Logging out failed: the database is unavailable. Please try again."
                return Response(message, status_code=503, media_type="text/plain")
        session.clear()
        return RedirectResponse("/login", status_code=303)

    async def me(self, request: Request) -> Response:
        """``GET /api/me``: the caller."""
        user = require_user(request)
        return JSONResponse(
            {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "team": user.team}
        )


def auth_routes(store: Store, templates: Jinja2Templates, *, throttle: LoginThrottle) -> list[Route]:
    """``GET``/``POST /login``, ``POST /logout`` and ``GET /api/me``."""
    routes = LoginRoutes(store, templates, throttle)
    return [
        Route("/login", routes.login_page, methods=["GET"]),
        Route("/login", routes.login, methods=["POST"]),
        Route("/logout", routes.logout, methods=["POST"]),
        Route("/api/me", routes.me, methods=["GET"]),
    ]
