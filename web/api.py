"""The JSON API under ``/api/``: the viewer's lists and details as JSON, for bearer tokens (and sessions).

Handlers read parameters, call one store verb with the caller's ``Viewer`` and answer JSON, so the API shows
exactly what the pages show. Handlers raise, and ``web.errors`` answers in JSON: 400 names the bad parameter, 404
is the same for a missing and an invisible object, 503 when the database is down. ``web.openapi`` describes every
route here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from store import Store, Viewer
from store.shapes import STATUSES
from web.api_json import (
    client_json,
    contact_json,
    dashboard_json,
    inbound_json,
    lead_json,
    message_item,
    message_json,
    record_json,
)
from web.auth.middleware import require_user
from web.errors import AuthRequiredError, NotFoundError
from web.filters import parse_list_query
from web.headers import NO_STORE
from web.openapi import openapi_schema
from web.params import parse_after, parse_limit, parse_status, path_id

#: Page sizes of the lists that are not message lists (``/api/inbound``, ``/api/leads``).
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: Which ``MessageFilter`` field each entity's history narrows.
HISTORY_FIELDS = {"clients": "client_id", "contacts": "contact_id", "leads": "lead_id", "records": "record_id"}

Handler = Callable[[Request], Awaitable[Response]]


# --- parameters -------------------------------------------------------------------------------------------------


def _limit(params: Mapping[str, str]) -> int:
    return parse_limit(params, DEFAULT_LIMIT, MAX_LIMIT)


def _json(data: Any) -> JSONResponse:
    return JSONResponse(data, headers=NO_STORE)


# --- routes -------------------------------------------------------------------------------------------------------


class Api:
    """The handlers over one store; ``api_routes`` gives them their paths."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def viewer(self, request: Request) -> Viewer:
        """The caller as a ``Viewer``; 401 when the user was deleted since the token or session was checked."""
        user = require_user(request)
        viewer = await run_in_threadpool(self.store.queries.get_viewer, user.id)
        if viewer is None:
            raise AuthRequiredError
        return viewer

    async def page(self, viewer: Viewer, request: Request, **narrow: int) -> Response:
        """One page of messages: the request's filter (narrowed by ``narrow``, e.g. ``client_id=3``) and paging."""
        query = parse_list_query(request.query_params)
        changes: dict[str, Any] = narrow
        f = dataclasses.replace(query.filter, **changes)
        page = await run_in_threadpool(
            self.store.queries.list_messages, viewer, f, after=query.after, limit=query.limit
        )
        return _json({"items": [message_item(row) for row in page.items], "next": page.next})

    async def messages(self, request: Request) -> Response:
        """``GET /api/messages``."""
        return await self.page(await self.viewer(request), request)

    async def message(self, request: Request) -> Response:
        """``GET /api/messages/{id}``."""
        viewer = await self.viewer(request)
        found = await run_in_threadpool(self.store.queries.get_message, viewer, path_id(request, "id"))
        if found is None:
            raise NotFoundError
        return _json(message_json(found, viewer))

    async def inbound(self, request: Request) -> Response:
        """``GET /api/inbound``: the ingest log, which does not exist for roles other than ``all``."""
        viewer = await self.viewer(request)
        if viewer.role != "all":
            raise NotFoundError
        status = parse_status(request.query_params, STATUSES)
        rows = await run_in_threadpool(
            self.store.receipts.list_inbound, status=status, limit=_limit(request.query_params)
        )
        return _json({"items": [inbound_json(v) for v in rows]})

    async def leads(self, request: Request) -> Response:
        """``GET /api/leads``."""
        viewer = await self.viewer(request)
        after = parse_after(request.query_params)
        page = await run_in_threadpool(
            self.store.queries.list_leads, viewer, after=after, limit=_limit(request.query_params)
        )
        return _json({"items": [lead_json(lead) for lead in page.items], "next": page.next})

    async def dashboard(self, request: Request) -> Response:
        """``GET /api/dashboard``."""
        viewer = await self.viewer(request)
        now = datetime.now(UTC)
        counts = await run_in_threadpool(self.store.queries.dashboard, viewer, now)
        return _json(dashboard_json(counts, now))

    def entity(self, kind: str) -> tuple[Handler, Handler]:
        """The detail and history handlers of one kind of directory entity (``clients``, ``contacts``…)."""
        verbs: dict[str, tuple[Callable[[Viewer, int], Any], Callable[[Any], dict[str, Any]]]] = {
            "clients": (self.store.queries.get_client, client_json),
            "contacts": (self.store.queries.get_contact, contact_json),
            "leads": (self.store.queries.get_lead, lead_json),
            "records": (self.store.queries.get_record, record_json),
        }
        verb, shape = verbs[kind]

        async def detail(request: Request) -> Response:
            viewer = await self.viewer(request)
            found = await run_in_threadpool(verb, viewer, path_id(request, "id"))
            if found is None:
                raise NotFoundError
            return _json(shape(found))

        async def history(request: Request) -> Response:
            viewer = await self.viewer(request)
            entity_id = path_id(request, "id")
            if await run_in_threadpool(verb, viewer, entity_id) is None:
                raise NotFoundError
            return await self.page(viewer, request, **{HISTORY_FIELDS[kind]: entity_id})

        return detail, history


async def schema(request: Request) -> Response:
    """``GET /api/schema``: public, like the code it describes."""
    return JSONResponse(openapi_schema())


async def unknown(request: Request) -> Response:
    """Any other path under ``/api/``."""
    raise NotFoundError


def api_routes(store: Store) -> list[Route]:
    """Every ``/api/`` route but ``/api/me`` (``web.auth.routes``), ending with a JSON 404 for the rest of ``/api/``."""
    api = Api(store)
    routes = [
        Route("/api/schema", schema, methods=["GET"], name="api_schema"),
        Route("/api/messages", api.messages, methods=["GET"], name="api_messages"),
        Route("/api/messages/{id:int}", api.message, methods=["GET"], name="api_message"),
        Route("/api/inbound", api.inbound, methods=["GET"], name="api_inbound"),
        Route("/api/leads", api.leads, methods=["GET"], name="api_leads"),
        Route("/api/dashboard", api.dashboard, methods=["GET"], name="api_dashboard"),
    ]
    for kind in HISTORY_FIELDS:
        detail, history = api.entity(kind)
        routes.append(Route(f"/api/{kind}/{{id:int}}", detail, methods=["GET"], name=f"api_{kind}_one"))
        routes.append(Route(f"/api/{kind}/{{id:int}}/history", history, methods=["GET"], name=f"api_{kind}_history"))
    # Last: any other path under /api/ is a JSON 404, not the HTML one.
    routes.append(Route("/api/{rest:path}", unknown, methods=["GET"], name="api_not_found"))
    return routes
