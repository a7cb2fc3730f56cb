"""The OpenAPI 3.1 document served at ``/api/schema``, written as data: every ``/api/`` route, parameter and shape.

``tests/web/test_api_schema.py`` checks that the routes and this document list the same paths, and validates real
responses against these schemas, so the two cannot drift apart silently.
"""

from __future__ import annotations

import copy
from typing import Any

from store.views import KINDS, STATUSES
from web.filters import DIRECTIONS, MAX_LIMIT

Schema = dict[str, Any]

#: The API's version; bump the minor for additions, the major for anything a client could trip on.
API_VERSION = "1.0.0"


def ref(name: str) -> Schema:
    """A reference to a schema under ``components/schemas``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null``."""
    if set(schema) <= {"type", "format", "description"} and isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"oneOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], description: str | None = None) -> Schema:
    """An object whose properties are all required (absent values are ``null``, never missing)."""
    schema: Schema = {"type": "object", "required": list(properties), "properties": properties}
    if description:
        schema["description"] = description
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
DATETIME: Schema = {"type": "string", "format": "date-time", "description": "ISO 8601 with a UTC offset"}
COUNTS: Schema = {"type": "object", "additionalProperties": INTEGER}
CURSOR: Schema = nullable({"type": "string", "description": "Pass as `after` for the next page; null on the last"})

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": STRING,
            "param": {"type": "string", "description": "The query parameter at fault (400 only)"},
        },
    },
    "EntityRef": obj({"id": INTEGER, "name": STRING}),
    "Address": obj({"name": nullable(STRING), "address": nullable(STRING)}),
    "Link": obj(
        {
            "type": {"type": "string", "enum": ["client", "contact", "lead", "record", "user"]},
            "id": INTEGER,
            "label": STRING,
            "reason": {"type": "string", "description": "code, address, domain, thread, new-lead, submitter…"},
        },
        "What a message is filed against, and why",
    ),
    "MessageItem": obj(
        {
            "id": INTEGER,
            "subject": nullable(STRING),
            "date": {**DATETIME, "description": "The Date header, else when the message was filed"},
            "direction": {"type": "string", "enum": list(DIRECTIONS)},
            "kind": {"type": "string", "enum": list(KINDS)},
            "submitter": nullable({"type": "string", "description": "The submitting user's name"}),
            "from": ref("Address"),
            "links": array(ref("Link")),
        }
    ),
    "MessagePage": obj({"items": array(ref("MessageItem")), "next": CURSOR}),
    "Match": obj(
        {
            "type": {"type": "string", "enum": ["user", "contact", "client", "lead"]},
            "id": nullable(INTEGER),
            "label": nullable(STRING),
            "via": nullable(STRING),
        }
    ),
    "Participant": obj(
        {
            "role": {"type": "string", "enum": ["from", "to", "cc"]},
            "address": STRING,
            "name": nullable(STRING),
            "internal": BOOLEAN,
            "match": nullable(ref("Match")),
        }
    ),
    "Code": obj(
        {
            "code": STRING,
            "record_id": nullable(INTEGER),
            "resolved": {"type": "boolean", "description": "false: no record had this code when it was filed"},
        }
    ),
    "Receipt": obj(
        {
            "id": STRING,
            "received_at": DATETIME,
            "mail_from": STRING,
            "rcpt_tos": array(STRING),
            "status": {"type": "string", "enum": list(STATUSES)},
            "reason": nullable(STRING),
            "sender_user": nullable(STRING),
            "submitter": nullable({"type": "string", "description": "The user address the gateway proved"}),
            "proof": nullable(
                {
                    "type": "string",
                    "description": "What proved the submitter: secret-address, trusted-relay, dkim, spf, arc, "
                    "postmaster",
                }
            ),
            "auth": nullable(ref("Auth")),
        }
    ),
    "Auth": obj(
        {
            "detail": nullable({"type": "string", "description": "What vouched, e.g. 'dkim pass d=example.com'"}),
            "route": nullable({"type": "string", "description": "sender (BCC, forward) or mailbox (redirect)"}),
            "via": nullable({"type": "string", "description": "Where the submitter was named: From, To, ..."}),
            "source": nullable({"type": "string", "description": "checked (by us) or relay (a trusted relay's)"}),
            "checks": array(ref("AuthCheck")),
        }
    ),
    "AuthCheck": obj(
        {
            "method": {"type": "string", "enum": ["dkim", "spf", "dmarc", "arc"]},
            "result": STRING,
            "domain": nullable(STRING),
            "selector": nullable(STRING),
            "detail": nullable(STRING),
        }
    ),
    "Attachment": obj(
        {
            "id": INTEGER,
            "filename": nullable(STRING),
            "content_type": STRING,
            "size": INTEGER,
            "sha256": STRING,
            "content_id": nullable(STRING),
            "inline": BOOLEAN,
            "url": {"type": "string", "description": "Downloads the bytes (session or same-site use)"},
        }
    ),
    "Message": obj(
        {
            "id": INTEGER,
            "subject": nullable(STRING),
            "date": nullable(DATETIME),
            "created_at": DATETIME,
            "from": ref("Address"),
            "direction": {"type": "string", "enum": list(DIRECTIONS)},
            "kind": {"type": "string", "enum": list(KINDS)},
            "submitter_id": nullable(INTEGER),
            "submitter": nullable(STRING),
            "note": nullable(STRING),
            "message_id_header": nullable(STRING),
            "raw_sha256": STRING,
            "participants": array(ref("Participant")),
            "links": array(ref("Link")),
            "codes": array(ref("Code")),
            "receipts": array(ref("Receipt")),
            "attachments": array(ref("Attachment")),
            "body_text": nullable(STRING),
            "body_html_url": nullable(
                {"type": "string", "description": "The sanitized HTML body, as the message page frames it"}
            ),
            "raw_url": nullable({"type": "string", "description": "The raw .eml (role all only, else null)"}),
        }
    ),
    "Inbound": obj(
        {
            "id": STRING,
            "received_at": DATETIME,
            "mail_from": STRING,
            "rcpt_tos": array(STRING),
            "peer": nullable(STRING),
            "helo": nullable(STRING),
            "size": INTEGER,
            "sha256": STRING,
            "status": {"type": "string", "enum": list(STATUSES)},
            "attempts": INTEGER,
            "last_error": nullable(STRING),
            "reason": nullable({"type": "string", "description": "The ignore rule, or a note for linked"}),
            "updated_at": DATETIME,
            "processed_at": nullable(DATETIME),
        },
        "One SMTP receipt in the ingest log",
    ),
    "InboundList": obj({"items": array(ref("Inbound"))}),
    "Lead": obj(
        {
            "id": INTEGER,
            "address": STRING,
            "name": nullable(STRING),
            "company": nullable(STRING),
            "owner": nullable(ref("EntityRef")),
            "first_message_id": nullable(
                {"type": "integer", "description": "null when the caller may not see that message"}
            ),
            "converted_contact": nullable(ref("EntityRef")),
            "converted_at": nullable(DATETIME),
            "created_at": DATETIME,
        }
    ),
    "LeadPage": obj({"items": array(ref("Lead")), "next": CURSOR}),
    "Record": obj(
        {"id": INTEGER, "code": STRING, "type": STRING, "title": STRING, "client": nullable(ref("EntityRef"))}
    ),
    "Client": obj(
        {
            "id": INTEGER,
            "name": STRING,
            "domains": array(STRING),
            "emails": array(STRING),
            "contacts": array(ref("EntityRef")),
            "records": array(ref("Record")),
        }
    ),
    "Contact": obj({"id": INTEGER, "name": STRING, "client": nullable(ref("EntityRef")), "emails": array(STRING)}),
    "DashboardWindow": obj(
        {
            "inbound": nullable({**COUNTS, "description": "Receipts by status (role all only)"}),
            "messages": {**COUNTS, "description": "Visible messages by kind, by when they were filed"},
            "leads": INTEGER,
        }
    ),
    "Dashboard": obj(
        {
            "generated_at": DATETIME,
            "last_24h": ref("DashboardWindow"),
            "last_7d": ref("DashboardWindow"),
            "unresolved_codes": INTEGER,
            "recent_failures": nullable({**array(ref("Inbound")), "description": "Role all only"}),
        }
    ),
    "Me": obj(
        {
            "id": INTEGER,
            "email": STRING,
            "name": STRING,
            "role": {"type": "string", "enum": ["all", "team", "own"]},
            "team": nullable(STRING),
        }
    ),
}


def _query(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or STRING}


ID_FILTER: Schema = {"type": "integer", "minimum": 1}
PARAMETERS: dict[str, Schema] = {
    "id": {"name": "id", "in": "path", "required": True, "schema": ID_FILTER},
    "q": _query("q", "Full-text search over subject, body and addresses"),
    "direction": _query("direction", "Only this direction", {"type": "string", "enum": list(DIRECTIONS)}),
    "kind": _query("kind", "Only this kind", {"type": "string", "enum": list(KINDS)}),
    "submitter": _query("submitter", "Mail this user submitted (user id)", ID_FILTER),
    "client": _query("client", "Mail filed on this client, its contacts or its records", ID_FILTER),
    "contact": _query("contact", "Mail filed on this contact", ID_FILTER),
    "lead": _query("lead", "Mail filed on this lead", ID_FILTER),
    "record": _query("record", "Mail filed on this record", ID_FILTER),
    "from": _query("from", "From this UTC day (YYYY-MM-DD) or date-time, inclusive"),
    "to": _query("to", "Up to this UTC day (YYYY-MM-DD, inclusive) or date-time"),
    "unmatched": _query(
        "unmatched", "true (or 1): only mail filed on no client, contact, lead or record", {"type": "boolean"}
    ),
    "code": _query("code", "Mail whose subject carried this record code (OP-123), resolved or not"),
    "after": _query("after", "The `next` cursor of the previous page"),
    "limit": _query("limit", "Page size", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}),
    "status": _query("status", "Only receipts in this state", {"type": "string", "enum": list(STATUSES)}),
}
#: The message filter, in the order ``web.filters.FILTER_PARAMS`` has it, then paging.
MESSAGE_LIST_PARAMS = (
    "q",
    "direction",
    "kind",
    "submitter",
    "client",
    "contact",
    "lead",
    "record",
    "from",
    "to",
    "unmatched",
    "code",
    "after",
    "limit",
)

RESPONSES: dict[str, Schema] = {
    "BadRequest": {
        "description": "A bad parameter value or cursor; `param` names it",
        "content": {"application/json": {"schema": ref("Error")}},
    },
    "Unauthorized": {
        "description": "No token, or an invalid or revoked one",
        "content": {"application/json": {"schema": ref("Error")}},
    },
    "NotFound": {
        "description": "No such object, or one the caller may not see: the two read the same",
        "content": {"application/json": {"schema": ref("Error")}},
    },
}


def _param(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def _get(
    summary: str, schema: str, params: tuple[str, ...] = (), *, bad_request: bool = False, not_found: bool = False
) -> Schema:
    responses: dict[str, Schema] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": ref(schema)}}},
        "401": {"$ref": "#/components/responses/Unauthorized"},
    }
    if bad_request:
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    if not_found:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    operation: Schema = {"summary": summary, "responses": responses}
    if params:
        operation["parameters"] = [_param(name) for name in params]
    return {"get": operation}


def _paths() -> dict[str, Schema]:
    paths: dict[str, Schema] = {
        "/api/schema": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
            }
        },
        "/api/me": _get("The caller", "Me"),
        "/api/messages": _get(
            "Messages the caller may see, newest first", "MessagePage", MESSAGE_LIST_PARAMS, bad_request=True
        ),
        "/api/messages/{id}": _get("One message in full", "Message", ("id",), not_found=True),
        "/api/inbound": _get(
            "The ingest log, newest first (role all only: 404 for others)",
            "InboundList",
            ("status", "limit"),
            bad_request=True,
            not_found=True,
        ),
        "/api/leads": _get(
            "Leads the assistant created, newest first", "LeadPage", ("after", "limit"), bad_request=True
        ),
        "/api/dashboard": _get("Counts for the last 24 hours and 7 days", "Dashboard"),
    }
    for kind, schema in (("clients", "Client"), ("contacts", "Contact"), ("leads", "Lead"), ("records", "Record")):
        paths[f"/api/{kind}/{{id}}"] = _get(f"One {schema.lower()}", schema, ("id",), not_found=True)
        paths[f"/api/{kind}/{{id}}/history"] = _get(
            f"Mail filed on this {schema.lower()}, newest first, with the message filters",
            "MessagePage",
            # The history's own entity is fixed by the path; every other filter narrows it further.
            ("id", *(name for name in MESSAGE_LIST_PARAMS if name != kind.removesuffix("s"))),
            bad_request=True,
            not_found=True,
        )
    return paths


def openapi_schema() -> Schema:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mailassist",
            "version": API_VERSION,
            "description": (
                "Read-only JSON over the mail the assistant filed. Every call sees what the caller's role allows "
                "(all, team or own); an object it may not see is a 404, like one that does not exist. "
                "Create a token with `mailassist token create EMAIL`."
            ),
        },
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A token starting with `ma_`"}
            },
            "schemas": copy.deepcopy(SCHEMAS),
            "parameters": copy.deepcopy(PARAMETERS),
            "responses": copy.deepcopy(RESPONSES),
        },
    }
