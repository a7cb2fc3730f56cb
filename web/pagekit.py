"""What every HTML page handler shares: ``PageKit`` (store, templates, and how a page answers).

A handler reads its parameters, asks the store in one thread-pool hop (the store is synchronous), then renders a
template, or raises what ``web.errors`` answers with a 404 or a 400 page. Visibility is the store's job: a message
the viewer may not see comes back as ``None`` and is answered exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from store import LoginView, Store, Viewer
from web.auth.middleware import require_user
from web.errors import AuthRequiredError, NotFoundError, Refusal
from web.timezone import rendering_in, viewer_zone

T = TypeVar("T")
#: A page's handler.
Endpoint = Callable[[Request], Awaitable[Response]]


def get_routes(table: Mapping[str, Endpoint]) -> list[BaseRoute]:
    """A GET route per path of ``table``: pages only read (the viewer never writes, DESIGN invariant 7)."""
    return [Route(path, endpoint, methods=["GET"]) for path, endpoint in table.items()]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC: the viewer's clock unless ``create_app`` is given another."""
    return datetime.now(UTC)


class PageKit:
    """The store, the templates, the clock, and the few ways a page answers: rendered, not found, or a bad request.

    ``clock`` gives "now" to the pages that count back from it (the dashboard's windows and days); tests pass a fixed
    one so that those pages render the same every run.
    """

    def __init__(self, store: Store, templates: Jinja2Templates, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.templates = templates
        self.clock = clock

    def viewer_of(self, user: LoginView) -> Viewer:
        """The store's viewer for a logged-in user (sync; call inside ``load``). A user deleted meanwhile logs out."""
        viewer = self.store.queries.get_viewer(user.id)
        if viewer is None:
            raise AuthRequiredError
        return viewer

    async def load(self, request: Request, fn: Callable[[LoginView, Viewer], T]) -> T:
        """Run ``fn(user, viewer)`` in the thread pool: the page's store calls, in one hop."""
        user = require_user(request)
        return await run_in_threadpool(lambda: fn(user, self.viewer_of(user)))

    async def find(self, request: Request, fn: Callable[[LoginView, Viewer], T | None]) -> T:
        """``load``, where ``None`` (nothing there, or nothing this viewer may see) is the 404 page."""
        found = await self.load(request, fn)
        if found is None:
            raise NotFoundError
        return found

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The template ``name`` rendered with ``context``, its times in the viewer's zone (``time_zone``)."""
        zone = viewer_zone(request)
        with rendering_in(zone):
            return self.templates.TemplateResponse(
                request,
                name,
                {**context, "time_zone": zone},
                status_code=status_code,
                headers=dict(headers) if headers else None,
            )

    def not_found(self, request: Request) -> Response:
        """The one 404 page: for what does not exist and for what this viewer may not see alike."""
        return self.render(request, "not_found.html", {}, status_code=404)

    def bad_request(self, request: Request, message: str) -> Response:
        """A 400 page saying what was wrong with the request."""
        return self.render(request, "bad_request.html", {"message": message}, status_code=400)

    def refuse(self, request: Request, answer: Refusal) -> Response | None:
        """The page of a refusal (``web.errors``): the 404 page, the 400 page with its message, or for a database
        that is down the 503 page with when to retry (as the API answers); ``None`` for any other status."""
        if answer.status == 404:
            return self.not_found(request)
        if answer.status == 400:
            return self.bad_request(request, answer.message)
        if answer.status == 503:
            return self.render(request, "unavailable.html", {}, status_code=503, headers=answer.headers)
        return None
