"""The JSON API under ``/api/``: the viewer's lists and details as JSON, for bearer tokens (and sessions).

Handlers read parameters, call one store verb with the caller's ``Viewer`` and answer JSON, so the API shows
exactly what the pages show. Errors are JSON too: 400 names the bad parameter, 404 is the same for a missing and
an invisible object, 503 when the database is down. ``web.openapi`` describes every route here.
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

from store import (
    AttachmentRef,
    BadCursorError,
    ClientDetail,
    ContactDetail,
    Dashboard,
    EntityRef,
    InboundView,
    LeadDetail,
    LinkChip,
    MessageDetail,
    MessageRow,
    RecordRef,
    Store,
    StoreError,
    Viewer,
)
from store.shapes import STATUSES
from web.auth import AuthRequiredError, require_user
from web.filters import MAX_ID, FilterError, parse_limit, parse_list_query
from web.openapi import openapi_schema

#: Page sizes of the lists that are not message lists (``/api/inbound``, ``/api/leads``).
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: Data responses are per user: never kept by a shared cache or the browser's.
NO_STORE = {"Cache-Control": "no-store"}
#: Which ``MessageFilter`` field each entity's history narrows.
HISTORY_FIELDS = {"clients": "client_id", "contacts": "contact_id", "leads": "lead_id", "records": "record_id"}

Handler = Callable[[Request], Awaitable[Response]]


class NotFoundError(Exception):
    """Answered ``404 {"error": "not found"}``: for missing and invisible objects alike."""


# --- JSON shapes ----------------------------------------------------------------------------------------------


def auth_json(auth: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A receipt's authentication record for the API: what vouched, and each check's result."""
    if auth is None:
        return None
    checks = auth.get("checks") or []
    return {
        "detail": auth.get("detail"),
        "route": auth.get("route"),
        "via": auth.get("via"),
        "source": auth.get("source"),
        "checks": [
            {key: c.get(key) for key in ("method", "result", "domain", "selector", "detail")}
            for c in checks
            if isinstance(c, Mapping)
        ],
    }


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ref(ref: EntityRef | None) -> dict[str, Any] | None:
    return {"id": ref.id, "name": ref.label} if ref is not None else None


def link_json(chip: LinkChip) -> dict[str, Any]:
    """A link chip: what the message is filed against, and why."""
    return {"type": chip.type, "id": chip.id, "label": chip.label, "reason": chip.reason}


def message_item(row: MessageRow) -> dict[str, Any]:
    """One row of a message list (``MessageItem`` in the schema)."""
    return {
        "id": row.id,
        "subject": row.subject,
        "date": row.date.isoformat(),
        "direction": row.direction,
        "kind": row.kind,
        "submitter": row.submitter,
        "from": {"name": row.from_name, "address": row.from_address},
        "links": [link_json(chip) for chip in row.links],
    }


def attachment_json(a: AttachmentRef) -> dict[str, Any]:
    """An attachment's metadata and where the page serves its bytes."""
    return {
        "id": a.id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "content_id": a.content_id,
        "inline": a.inline,
        "url": f"/messages/{a.message_id}/attachments/{a.id}",
    }


def message_json(m: MessageDetail, viewer: Viewer) -> dict[str, Any]:
    """A message in full. The HTML body is not inlined: ``body_html_url`` serves it sanitized."""
    return {
        "id": m.id,
        "subject": m.subject,
        "date": _when(m.date),
        "created_at": m.created_at.isoformat(),
        "from": {"name": m.from_name, "address": m.from_address},
        "direction": m.direction,
        "kind": m.kind,
        "submitter_id": m.submitter_id,
        "submitter": m.submitter,
        "note": m.note,
        "message_id_header": m.message_id_header,
        "raw_sha256": m.raw_sha256,
        "participants": [
            {
                "role": p.role,
                "address": p.address,
                "name": p.name,
                "internal": p.internal,
                "match": (
                    {"type": p.match_type, "id": p.match_id, "label": p.match_label, "via": p.match_via}
                    if p.match_type is not None
                    else None
                ),
            }
            for p in m.participants
        ],
        "links": [link_json(chip) for chip in m.links],
        "codes": [{"code": c.code, "record_id": c.record_id, "resolved": c.record_id is not None} for c in m.codes],
        "receipts": [
            {
                "id": r.id,
                "received_at": r.received_at.isoformat(),
                "mail_from": r.mail_from,
                "rcpt_tos": list(r.rcpt_tos),
                "status": r.status,
                "reason": r.reason,
                "sender_user": r.sender_user,
                "submitter": r.submitter,
                "proof": r.proof,
                "source": r.source,
                "auth": auth_json(r.auth),
            }
            for r in m.receipts
        ],
        "attachments": [attachment_json(a) for a in m.attachments],
        "body_text": m.body_text,
        "body_html_url": f"/messages/{m.id}/html" if m.body_html else None,
        "raw_url": f"/messages/{m.id}/raw.eml" if viewer.role == "all" else None,
    }


def inbound_json(v: InboundView) -> dict[str, Any]:
    """One receipt of the ingest log."""
    return {
        "id": v.id,
        "received_at": v.received_at.isoformat(),
        "mail_from": v.mail_from,
        "rcpt_tos": list(v.rcpt_tos),
        "peer": v.peer,
        "helo": v.helo,
        "size": v.size,
        "sha256": v.sha256,
        "status": v.status,
        "attempts": v.attempts,
        "last_error": v.last_error,
        "reason": v.reason,
        "updated_at": v.updated_at.isoformat(),
        "processed_at": _when(v.processed_at),
    }


def lead_json(lead: LeadDetail) -> dict[str, Any]:
    """A lead; ``first_message_id`` is ``null`` when the viewer may not see that message."""
    return {
        "id": lead.id,
        "address": lead.address,
        "name": lead.name,
        "company": lead.company,
        "owner": {"id": lead.owner_id, "name": lead.owner} if lead.owner_id is not None else None,
        "first_message_id": lead.first_message_id,
        "converted_contact": _ref(lead.converted_contact),
        "converted_at": _when(lead.converted_at),
        "created_at": lead.created_at.isoformat(),
    }


def record_json(r: RecordRef) -> dict[str, Any]:
    """A CRM record with its code and client."""
    client = {"id": r.client_id, "name": r.client_name} if r.client_id is not None else None
    return {"id": r.id, "code": r.code, "type": r.type, "title": r.title, "client": client}


def client_json(c: ClientDetail) -> dict[str, Any]:
    """A client with its domains, addresses, contacts and records."""
    return {
        "id": c.id,
        "name": c.name,
        "domains": list(c.domains),
        "emails": list(c.emails),
        "contacts": [_ref(contact) for contact in c.contacts],
        "records": [record_json(r) for r in c.records],
    }


def contact_json(c: ContactDetail) -> dict[str, Any]:
    """A contact with its client and addresses."""
    return {"id": c.id, "name": c.name, "client": _ref(c.client), "emails": list(c.emails)}


def dashboard_json(d: Dashboard, now: datetime) -> dict[str, Any]:
    """The dashboard's counts by window; inbound counts and failures are ``null`` below role ``all``."""
    return {
        "generated_at": now.isoformat(),
        "last_24h": {"inbound": d.inbound_24h, "messages": d.messages_24h, "leads": d.leads_24h},
        "last_7d": {"inbound": d.inbound_7d, "messages": d.messages_7d, "leads": d.leads_7d},
        "unresolved_codes": d.unresolved_codes,
        "recent_failures": [inbound_json(v) for v in d.recent_failures] if d.recent_failures is not None else None,
    }


# --- parameters -------------------------------------------------------------------------------------------------


def _limit(params: Mapping[str, str]) -> int:
    return parse_limit(params, DEFAULT_LIMIT, MAX_LIMIT)


def _path_id(request: Request) -> int:
    value = request.path_params["id"]
    assert isinstance(value, int)  # the route's ``{id:int}`` converter
    if value > MAX_ID:
        raise NotFoundError
    return value


def _json(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status_code, headers=NO_STORE)


def not_found() -> JSONResponse:
    """The one 404 body, so a guessed id tells nothing."""
    return _json({"error": "not found"}, 404)


def _guarded(handler: Handler) -> Handler:
    """Turns the API's errors into JSON answers: bad parameters, cursors, missing objects, a database that is down."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except FilterError as exc:
            return _json({"error": str(exc), "param": exc.param}, 400)
        except BadCursorError as exc:
            return _json({"error": str(exc), "param": "after"}, 400)
        except NotFoundError:
            return not_found()
        except StoreError:
            return _json({"error": "database unavailable"}, 503)

    return endpoint


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
        found = await run_in_threadpool(self.store.queries.get_message, viewer, _path_id(request))
        if found is None:
            raise NotFoundError
        return _json(message_json(found, viewer))

    async def inbound(self, request: Request) -> Response:
        """``GET /api/inbound``: the ingest log, which does not exist for roles other than ``all``."""
        viewer = await self.viewer(request)
        if viewer.role != "all":
            raise NotFoundError
        status = request.query_params.get("status", "").strip().lower() or None
        if status is not None and status not in STATUSES:
            raise FilterError("status", f"must be one of {', '.join(STATUSES)}, not {status[:40]!r}")
        rows = await run_in_threadpool(
            self.store.receipts.list_inbound, status=status, limit=_limit(request.query_params)
        )
        return _json({"items": [inbound_json(v) for v in rows]})

    async def leads(self, request: Request) -> Response:
        """``GET /api/leads``."""
        viewer = await self.viewer(request)
        after = request.query_params.get("after", "").strip() or None
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
            found = await run_in_threadpool(verb, viewer, _path_id(request))
            if found is None:
                raise NotFoundError
            return _json(shape(found))

        async def history(request: Request) -> Response:
            viewer = await self.viewer(request)
            entity_id = _path_id(request)
            if await run_in_threadpool(verb, viewer, entity_id) is None:
                raise NotFoundError
            return await self.page(viewer, request, **{HISTORY_FIELDS[kind]: entity_id})

        return detail, history


async def schema(request: Request) -> Response:
    """``GET /api/schema``: public, like the code it describes."""
    return JSONResponse(openapi_schema())


async def unknown(request: Request) -> Response:
    """Any other path under ``/api/``."""
    return not_found()


def api_routes(store: Store) -> list[Route]:
    """Every ``/api/`` route but ``/api/me`` (``web.auth``), ending with a JSON 404 for the rest of ``/api/``."""
    api = Api(store)
    routes = [
        Route("/api/schema", schema, methods=["GET"], name="api_schema"),
        Route("/api/messages", _guarded(api.messages), methods=["GET"], name="api_messages"),
        Route("/api/messages/{id:int}", _guarded(api.message), methods=["GET"], name="api_message"),
        Route("/api/inbound", _guarded(api.inbound), methods=["GET"], name="api_inbound"),
        Route("/api/leads", _guarded(api.leads), methods=["GET"], name="api_leads"),
        Route("/api/dashboard", _guarded(api.dashboard), methods=["GET"], name="api_dashboard"),
    ]
    for kind in HISTORY_FIELDS:
        detail, history = api.entity(kind)
        routes.append(Route(f"/api/{kind}/{{id:int}}", _guarded(detail), methods=["GET"], name=f"api_{kind}_one"))
        routes.append(
            Route(f"/api/{kind}/{{id:int}}/history", _guarded(history), methods=["GET"], name=f"api_{kind}_history")
        )
    # Last: any other path under /api/ is a JSON 404, not the HTML one.
    routes.append(Route("/api/{rest:path}", unknown, methods=["GET"], name="api_not_found"))
    return routes
