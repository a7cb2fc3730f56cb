"""The dashboard, the unresolved codes, and the client, contact, lead and record pages with their mail timelines
(the indexes are ``web.index_pages``, the ingest log ``web.ingest_pages``).

The directory itself is not secret; the mail on these pages goes through the store's conversations with the viewer,
so a timeline shows only what the viewer may see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from store import ConversationPage, LoginView, MessageFilter, UserRef, Viewer
from store.page_shapes import KINDS
from web.charts import stacked_bars
from web.filters import DIRECTIONS
from web.pagekit import PageKit
from web.params import path_id
from web.timelines import TIMELINE_PARAMS, list_url, parse_timeline, timeline_url
from web.timezone import viewer_zone

Endpoint = Callable[[Request], Awaitable[Response]]

#: Conversations per page of an entity's timeline (each shows at most ``store.conversations.MAX_SHOWN`` messages).
TIMELINE_LIMIT = 50
#: Unresolved codes the codes page lists, latest mail first.
CODES_LIMIT = 500

#: The filter of each directory page's timeline, by its kind: the ``/messages`` parameter that gives the same list.
TIMELINES: dict[str, Callable[[int], MessageFilter]] = {
    "client": lambda i: MessageFilter(client_id=i),
    "contact": lambda i: MessageFilter(contact_id=i),
    "lead": lambda i: MessageFilter(lead_id=i),
    "record": lambda i: MessageFilter(record_id=i),
}


class DirectoryPages:
    """The handlers; ``directory_routes`` maps them to paths."""

    def __init__(self, kit: PageKit) -> None:
        self.kit = kit
        self.store = kit.store

    async def dashboard(self, request: Request) -> Response:
        """``GET /``: the counts by window (and, role ``all``, the latest failures), and the panels: mail per day
        of the viewer's zone drawn as SVG (``web.charts``), codes, leads, queue health."""
        now = self.kit.clock()
        queries = self.store.queries
        # The chart's days are the viewer's, as every date on the page is.
        zone = viewer_zone(request)
        board, panels = await self.kit.load(
            request,
            lambda user, viewer: (queries.dashboard(viewer, now), queries.dashboard_panels(viewer, now, zone.zone)),
        )
        charts = {"kinds": stacked_bars(panels.days, panels.filed_by_kind, zone=zone.name)}
        if panels.outcomes is not None:
            charts["outcomes"] = stacked_bars(panels.days, panels.outcomes, zone=zone.name)
        context = {"nav": "dashboard", "d": board, "p": panels, "charts": charts}
        return self.kit.render(request, "dashboard.html", context)

    async def codes(self, request: Request) -> Response:
        """``GET /codes``: record codes that mail carried and no record has (yet), latest mail first."""
        found = await self.kit.load(
            request, lambda user, viewer: self.store.queries.list_unresolved_codes(viewer, limit=CODES_LIMIT)
        )
        return self.kit.render(request, "codes.html", {"nav": "dashboard", "codes": found, "limit": CODES_LIMIT})

    def entity(self, kind: str) -> Endpoint:
        """The page handler of one kind of directory entity (``client``, ``contact``…)."""
        verbs: dict[str, Callable[[Viewer, int], object | None]] = {
            "client": self.store.queries.get_client,
            "contact": self.store.queries.get_contact,
            "lead": self.store.queries.get_lead,
            "record": self.store.queries.get_record,
        }
        get = verbs[kind]

        async def page(request: Request) -> Response:
            return await self.entity_page(request, kind, get)

        return page

    async def entity_page(self, request: Request, kind: str, get: Callable[[Viewer, int], object | None]) -> Response:
        """A directory page: the entity from ``get``, and its timeline as conversations (``store.conversations``) of
        the messages ``/messages?KIND=ID`` lists, filtered by ``web.timelines``' parameters; a bad one is a 400."""
        entity_id = path_id(request, "entity_id")
        query = parse_timeline(request.query_params, TIMELINES[kind](entity_id), zone=viewer_zone(request).zone)

        def fetch(user: LoginView, viewer: Viewer) -> tuple[object, ConversationPage, list[UserRef]] | None:
            entity = get(viewer, entity_id)
            if entity is None:
                return None
            queries = self.store.queries
            page = queries.list_conversations(
                viewer, query.filter, person=query.person, after=query.after, limit=TIMELINE_LIMIT
            )
            return entity, page, queries.list_users()

        entity, timeline, users = await self.kit.find(request, fetch)
        path = request.url.path
        context: dict[str, Any] = {
            "e": entity,
            "conversations": timeline.items,
            "truncated": timeline.truncated,
            "next_url": timeline_url(path, query, after=timeline.next) if timeline.next else None,
            "first_url": timeline_url(path, query) if query.after else None,
            "list_url": list_url(kind, entity_id, query),
            "form": {name: query.params.get(name, "") for name in TIMELINE_PARAMS},
            "filtered": bool(query.params),
            "clear_url": path,
            "users": users,
            "directions": DIRECTIONS,
            "kinds": KINDS,
        }
        return self.kit.render(request, f"{kind}.html", context)


def directory_routes(kit: PageKit) -> list[BaseRoute]:
    """``/`` (dashboard), ``/codes`` (unresolved codes), ``/clients/{id}``, ``/contacts/{id}``, ``/leads/{id}``,
    ``/records/{id}``."""
    pages = DirectoryPages(kit)
    routes: list[BaseRoute] = [
        Route("/", pages.dashboard, methods=["GET"]),
        Route("/codes", pages.codes, methods=["GET"]),
    ]
    for kind in TIMELINES:
        routes.append(Route(f"/{kind}s/{{entity_id:int}}", pages.entity(kind), methods=["GET"]))
    return routes
