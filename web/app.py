"""``create_app``: the viewer's ASGI app. Read-only, private unless a path is public
(``web.auth.middleware.is_public``), and every response carries the security headers (private ones
``Cache-Control: no-store`` too). Pages in ``web.pages``, the JSON API in ``web.api``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store import Store, StoreError
from web.addresses import breakable_address, shown_address
from web.api import api_routes
from web.auth.middleware import (
    AuthGateMiddleware,
    SecureCookies,
    SessionsMiddleware,
    auth_required_response,
    current_user,
    is_public,
    load_secret_key,
    required_scope,
)
from web.auth.routes import auth_routes
from web.auth.throttle import LoginThrottle
from web.directory_api import DirectoryRules, directory_routes
from web.errors import AuthRequiredError, ErrorAnswers, WebError, is_api
from web.headers import NO_STORE, SECURITY_HEADERS, hsts_headers
from web.health import health_routes
from web.ingest_api import IngestFn, ingest_routes
from web.metrics import metrics_routes
from web.pagekit import PageKit, utc_now
from web.pages import page_routes
from web.timezone import local_time

#: Added as well to every response on a path behind the login (not ``web.auth.middleware.is_public``): pages, the API,
#: downloads and the CSV hold one user's view of the mail, which no browser or shared cache may keep. Static files
#: and the login page keep their caching.
PRIVATE_HEADERS = NO_STORE
#: A path segment of more digits than this is answered 404 before routing: no id is that long (ids are 32-bit), and
#: Starlette's ``{id:int}`` would fail converting it (Python's ``int()`` refuses more than 4300 digits). Longer than
#: any real ``Content-ID`` (a header line is at most 998 characters), so ``/cid/`` paths of digits still route.
MAX_PATH_DIGITS = 1000
#: The only paths that take a POST, with what each allows (DESIGN.md, invariant 7: the web never writes).
WRITE_PATHS = {"/login": "GET, HEAD, POST", "/logout": "POST", "/api/ingest": "POST"}
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


class SecurityHeadersMiddleware:
    """Adds ``headers`` to every HTTP response, and ``private_headers`` to those on paths behind the login, unless
    the response already carries them."""

    def __init__(
        self,
        app: ASGIApp,
        headers: Mapping[str, str] = SECURITY_HEADERS,
        private_headers: Mapping[str, str] = PRIVATE_HEADERS,
    ) -> None:
        self.app = app
        self.headers = dict(headers)
        self.private_headers = {**self.headers, **private_headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.headers if is_public(scope.get("path", "")) else self.private_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ReadOnlyMiddleware:
    """Answers 405 to every method but GET and HEAD, except POST to the login and logout paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope.get("method"), scope.get("path", "")
        if (
            scope["type"] != "http"
            or method in ("GET", "HEAD")
            or (method == "POST" and path in WRITE_PATHS)
            # A token write route (``web.auth.API_WRITE_SCOPES``); the auth gate refuses sessions on it.
            or (is_api(path) and required_scope(str(method), path) is not None)
        ):
            await self.app(scope, receive, send)
            return
        headers = {"Allow": WRITE_PATHS.get(path, "GET, HEAD")}
        response: Response
        if is_api(path):
            response = JSONResponse({"error": "method not allowed"}, status_code=405, headers=headers)
        else:
            response = PlainTextResponse("Method Not Allowed", status_code=405, headers=headers)
        await response(scope, receive, send)


class LongNumberMiddleware:
    """Answers 404 to a path with a segment of more than ``MAX_PATH_DIGITS`` digits (JSON under ``/api/``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not any(
            len(part) > MAX_PATH_DIGITS and part.isascii() and part.isdigit() for part in path.split("/")
        ):
            await self.app(scope, receive, send)
            return
        response: Response
        if is_api(path):
            response = JSONResponse({"error": "not found"}, status_code=404)
        else:
            response = PlainTextResponse("Not Found", status_code=404)
        await response(scope, receive, send)


class ViewerApp(Starlette):
    """Starlette with the security headers outside everything, so that error pages (500 included) carry them."""

    def __init__(self, *, security_headers: Mapping[str, str] = SECURITY_HEADERS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.security_headers = dict(security_headers)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack(), self.security_headers)


def _page_context(request: Request) -> dict[str, Any]:
    # What base.html needs on every page: who is logged in, and the token its logout form posts.
    return {"user": current_user(request), "logout_csrf": request.session.get("csrf", "")}


def default_secret_path(store: Store) -> Path:
    """Where the generated session key lives without ``web.secret_key``: beside the blob directory."""
    return store.blobs.root.parent / "web-secret"


def _templates() -> Jinja2Templates:
    """The pages' templates, with the filters they format addresses and times with."""
    templates = Jinja2Templates(directory=TEMPLATES, context_processors=[_page_context])
    templates.env.filters["shown_address"] = shown_address
    templates.env.filters["addr"] = breakable_address
    templates.env.filters["local_time"] = local_time
    return templates


def create_app(
    store: Store,
    *,
    broker_check: Callable[[], None] | None = None,
    secret_key: str | None = None,
    secure_cookies: SecureCookies = "auto",
    login_throttle: LoginThrottle | None = None,
    hsts_max_age: int = 0,
    ingest: IngestFn | None = None,
    ingest_max_size: int = 25 * 1024 * 1024,
    directory: DirectoryRules | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Starlette:
    """Build the viewer over ``store``; ``broker_check`` raises when the queue broker is unreachable.

    ``secret_key`` signs session cookies (default: generated once in ``default_secret_path``); ``secure_cookies``
    marks them Secure on HTTPS requests (``auto``), always or never. ``hsts_max_age`` > 0 adds
    ``Strict-Transport-Security`` to every response (for a viewer served over HTTPS only). ``ingest`` takes what
    ``POST /api/ingest`` receives, up to ``ingest_max_size`` bytes (``web.ingest_api``). ``clock`` is the pages'
    "now" (``PageKit``): tests fix it so that the dashboard renders the same every run.
    """
    key = secret_key or load_secret_key(default_secret_path(store))
    templates = _templates()
    kit = PageKit(store, templates, clock=clock)
    errors = ErrorAnswers(kit.refuse)
    routes = [
        *page_routes(kit),
        *health_routes(store, broker_check),
        *auth_routes(store, templates, throttle=login_throttle or LoginThrottle()),
        *ingest_routes(ingest, max_size=ingest_max_size),
        *directory_routes(store, directory),  # the import's rules; without them its routes answer 503
        *api_routes(store),  # after auth_routes: it ends with a catch-all JSON 404 for /api/
        *metrics_routes(store),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(ReadOnlyMiddleware),
        Middleware(SessionsMiddleware, secret_key=key, secure_cookies=secure_cookies),
        Middleware(AuthGateMiddleware, store=store, secret_key=key),
        # Inside the login gate: an anonymous request still meets the login first.
        Middleware(LongNumberMiddleware),
    ]
    return ViewerApp(
        routes=routes,
        middleware=middleware,
        # Every refusal a route raises, answered in one place (``web.errors``); the login's own first.
        exception_handlers={AuthRequiredError: auth_required_response, WebError: errors, StoreError: errors},
        security_headers={**SECURITY_HEADERS, **hsts_headers(hsts_max_age)},
    )
