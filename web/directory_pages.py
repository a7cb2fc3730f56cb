"""The dashboard, the unresolved codes, and the client, contact, lead and record pages with their mail timelines
(the indexes are ``web.index_pages``, the ingest log ``web.ingest_pages``).

The directory itself is not secret; the mail on these pages goes through the store's message list with the viewer,
so a timeline shows only what the viewer may see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from store import BadCursorError, LoginView, MessageFilter, MessagePage, Viewer
from web.charts import stacked_bars
from web.pagekit import PageKit, valid_id

#: Messages per page of an entity's timeline.
TIMELINE_LIMIT = 50
#: Unresolved codes the codes page lists, latest mail first.
CODES_LIMIT = 500

Endpoint = Callable[[Request], Awaitable[Response]]
#: The filter of each directory page's timeline, by the ``/messages`` parameter that gives the same list.
TIMELINES: dict[str, Callable[[int], MessageFilter]] = {
    "client": lambda i: MessageFilter(client_id=i),
    "contact": lambda i: MessageFilter(contact_id=i),
    "lead": lambda i: MessageFilter(lead_id=i),
    "record": lambda i: MessageFilter(record_id=i),
}


def _after(request: Request) -> str | None:
    return request.query_params.get("after", "").strip() or None


def _page_url(path: str, cursor: str | None, **params: str) -> str | None:
    """``path`` with ``params`` and ``after=cursor``; ``None`` without a cursor (no further page)."""
    if cursor is None:
        return None
    return f"{path}?{urlencode({**params, 'after': cursor})}"


def dashboard_page(kit: PageKit) -> Endpoint:
    """``/``: the counts, and the panels: mail per day drawn as SVG (``web.charts``), codes, leads, queue health."""
    store = kit.store

    async def dashboard(request: Request) -> Response:
        now = datetime.now(UTC)
        board, panels = await kit.load(
            request, lambda user, viewer: (store.dashboard(viewer, now), store.dashboard_panels(viewer, now))
        )
        charts = {"kinds": stacked_bars(panels.days, panels.filed_by_kind)}
        if panels.outcomes is not None:
            charts["outcomes"] = stacked_bars(panels.days, panels.outcomes)
        context = {"nav": "dashboard", "d": board, "p": panels, "charts": charts}
        return kit.render(request, "dashboard.html", context)

    return dashboard


def directory_routes(kit: PageKit) -> list[BaseRoute]:
    """``/`` (dashboard), ``/codes`` (unresolved codes), ``/clients/{id}``, ``/contacts/{id}``, ``/leads/{id}``,
    ``/records/{id}``."""
    store = kit.store

    dashboard = dashboard_page(kit)

    def entity_page(template: str, param: str, get: Callable[[Viewer, int], object | None]) -> Endpoint:
        """A directory page: the entity from ``get``, and its timeline: the messages ``?param=ID`` lists."""

        async def page(request: Request) -> Response:
            entity_id: int = request.path_params["entity_id"]
            if not valid_id(entity_id):
                return kit.not_found(request)
            after = _after(request)

            def fetch(user: LoginView, viewer: Viewer) -> tuple[object | None, MessagePage | None, str | None]:
                entity = get(viewer, entity_id)
                if entity is None:
                    return None, None, None
                f = TIMELINES[param](entity_id)
                try:
                    return entity, store.list_messages(viewer, f, after=after, limit=TIMELINE_LIMIT), None
                except BadCursorError as exc:
                    return entity, None, f"after: {exc}"

            entity, timeline, error = await kit.load(request, fetch)
            if entity is None:
                return kit.not_found(request)
            if timeline is None:
                return kit.bad_request(request, error or "bad request")
            context: dict[str, Any] = {
                "e": entity,
                "items": timeline.items,
                "next_url": _page_url(request.url.path, timeline.next),
                "first_url": request.url.path if after else None,
                "list_url": f"/messages?{param}={entity_id}",
            }
            return kit.render(request, template, context)

        return page

    async def codes(request: Request) -> Response:
        found = await kit.load(request, lambda user, viewer: store.list_unresolved_codes(viewer, limit=CODES_LIMIT))
        return kit.render(request, "codes.html", {"nav": "dashboard", "codes": found, "limit": CODES_LIMIT})

    return [
        Route("/", dashboard, methods=["GET"]),
        Route("/clients/{entity_id:int}", entity_page("client.html", "client", store.get_client), methods=["GET"]),
        Route("/contacts/{entity_id:int}", entity_page("contact.html", "contact", store.get_contact), methods=["GET"]),
        Route("/codes", codes, methods=["GET"]),
        Route("/leads/{entity_id:int}", entity_page("lead.html", "lead", store.get_lead), methods=["GET"]),
        Route("/records/{entity_id:int}", entity_page("record.html", "record", store.get_record), methods=["GET"]),
    ]
