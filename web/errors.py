"""The web's one error root, and the one place where an error a handler raises becomes an HTTP status.

Handlers raise (``NotFoundError``, ``FilterError``, the store's ``BadCursorError``, ``BlobNotFoundError`` and
``StoreError``) instead of each catching them: ``refusal`` maps every one to a status and a message, and ``create_app``
registers ``ErrorAnswers`` for them, which answers JSON under ``/api/`` and the HTML error pages elsewhere. An error
that maps to nothing is a bug, and stays the server's 500 (logged by Starlette with its traceback).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from store import BadCursorError, BlobNotFoundError, StoreError
from web.headers import NO_STORE

log = structlog.get_logger("web")

#: How long a client should wait before retrying while the database is down.
RETRY_AFTER_SECONDS = 60


class WebError(Exception):
    """Base for every error the web raises to end a request with an error answer."""


class NotFoundError(WebError):
    """404, for what does not exist and what this viewer may not see alike: a guessed id tells nothing."""


class AuthRequiredError(WebError):
    """Nobody is logged in: a login redirect for pages, 401 under ``/api/`` (``web.auth.middleware``)."""


class RefusedError(WebError):
    """A route's own refusal with its status (a write without a token, a part not configured); ``str()`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FilterError(WebError, ValueError):
    """400: a query parameter with a value we cannot use; ``param`` names it, and ``str()`` starts with it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


@dataclass(frozen=True, slots=True)
class Refusal:
    """What an error answers: its status, a message for the person or program, and the parameter at fault."""

    status: int
    message: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


#: The answer to a database (or blob directory) that is down: the request may succeed later.
UNAVAILABLE = Refusal(503, "database unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def refusal(exc: BaseException) -> Refusal | None:
    """The answer to ``exc``; ``None`` when it is no refusal but a bug (the server's 500)."""
    if isinstance(exc, FilterError):
        return Refusal(400, str(exc), exc.param)
    if isinstance(exc, BadCursorError):
        return Refusal(400, f"after: {exc}", "after")
    # A blob that is gone reads like a message that is: there is nothing to show.
    if isinstance(exc, NotFoundError | BlobNotFoundError):
        return Refusal(404, "not found")
    if isinstance(exc, RefusedError):
        return Refusal(exc.status, str(exc))
    if isinstance(exc, StoreError):
        return UNAVAILABLE
    return None


def json_refusal(answer: Refusal) -> JSONResponse:
    """The API's form of a refusal: ``{"error": …, "param": …}`` (``param`` on a 400 only), never cached."""
    body: dict[str, str] = {"error": answer.message}
    if answer.param is not None:
        body["param"] = answer.param
    return JSONResponse(body, status_code=answer.status, headers={**NO_STORE, **answer.headers})


def is_api(path: str) -> bool:
    """Whether ``path`` is part of the JSON API (bearer tokens, JSON errors)."""
    return path == "/api" or path.startswith("/api/")


class ErrorAnswers:
    """The exception handler for every refusal: JSON under ``/api/``, else the page ``html`` renders."""

    def __init__(self, html: Callable[[Request, Refusal], Response | None]) -> None:
        #: The page of a refusal; ``None`` for one a page leaves to the server's 500 (see ``PageKit.refuse``).
        self.html = html

    async def __call__(self, request: Request, exc: Exception) -> Response:
        """The answer to ``exc``, raised by a route."""
        answer = refusal(exc)
        if answer is UNAVAILABLE:
            log.warning("store_unavailable", path=request.url.path, error=str(exc))
        if answer is not None and is_api(request.url.path):
            return json_refusal(answer)
        page = self.html(request, answer) if answer is not None else None
        if page is None:
            raise exc
        return page
