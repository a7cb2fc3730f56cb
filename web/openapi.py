"""The OpenAPI 3.1 document served at ``/api/schema``, written as data: every ``/api/`` route, parameter and shape
(the shapes are in ``web.openapi_shapes``).

``tests/web/test_api_schema.py`` checks that the routes and this document list the same paths, and validates real
responses against these schemas, so the two cannot drift apart silently.
"""

from __future__ import annotations

import copy

from store.page_shapes import KINDS
from store.shapes import STATUSES
from web.directory_api import KINDS as DIRECTORY_KINDS
from web.directory_api import RELINK_COUNTS
from web.directory_api import SCOPE as DIRECTORY_SCOPE
from web.filters import DIRECTIONS, MAX_LIMIT
from web.openapi_shapes import BOOLEAN, COUNTS, INTEGER, SCHEMAS, STRING, Schema, array, nullable, obj, ref

#: The API's version; bump the minor for additions, the major for anything a client could trip on.
API_VERSION = "1.0.0"


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


def _json(description: str, schema: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


RESPONSES: dict[str, Schema] = {
    "BadRequest": _json("A bad parameter value or cursor; `param` names it", "Error"),
    "Unauthorized": _json("No token, or an invalid or revoked one", "Error"),
    "NotFound": _json("No such object, or one the caller may not see: the two read the same", "Error"),
    "Unavailable": _json("The database is down: retry after Retry-After seconds", "Error"),
}


def _param(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def _get(
    summary: str, schema: str, params: tuple[str, ...] = (), *, bad_request: bool = False, not_found: bool = False
) -> Schema:
    responses: dict[str, Schema] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": ref(schema)}}},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "503": {"$ref": "#/components/responses/Unavailable"},
    }
    if bad_request:
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    if not_found:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    operation: Schema = {"summary": summary, "responses": responses}
    if params:
        operation["parameters"] = [_param(name) for name in params]
    return {"get": operation}


def _ingest() -> Schema:
    def answer(description: str) -> Schema:
        return {"description": description, "content": {"application/json": {"schema": ref("IngestError")}}}

    accepted = {"content": {"application/json": {"schema": ref("IngestAccepted")}}}
    return {
        "post": {
            "summary": "Hand in one raw email (a token with the ingest scope; never a session)",
            "requestBody": {
                "required": True,
                "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {
                "202": {"description": "Accepted: the receipt is committed and queued", **accepted},
                "200": {"description": "A duplicate: this user handed in these exact bytes before", **accepted},
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "403": answer("The token lacks the ingest scope"),
                "413": answer("Larger than smtp.max_message_size (SMTP's 552 5.3.4)"),
                "415": answer("Not Content-Type: message/rfc822"),
                "422": answer("Refused by policy, with the SMTP reply (e.g. 554 5.6.0 Not an email)"),
                "503": answer("Storage unavailable (SMTP's 451 4.3.0): retry after Retry-After seconds"),
            },
        }
    }


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
        "/api/ingest": _ingest(),
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
    return {**paths, **_directory_paths()}


# --- the directory sync API (``web.directory_api``) ---------------------------------------------------------------

STRINGS: Schema = {
    "oneOf": [
        {"type": "string", "description": "Items separated by `;`, as in the CSV"},
        array(STRING),
    ]
}
_NULLABLE_STRING = nullable(STRING)
#: One row per kind, with the CSV's columns as fields; a missing field or `null` is an empty cell (a missing
#: ``time_zone``, a file without that column: the user's zone stays).
DIRECTORY_SCHEMAS: dict[str, Schema] = {
    "UserRow": {
        "type": "object",
        "properties": {
            "email": STRING,
            "name": STRING,
            "team": _NULLABLE_STRING,
            "role": STRING,
            "aliases": STRINGS,
            "time_zone": {
                **_NULLABLE_STRING,
                "description": "An IANA zone such as `Europe/Warsaw`; `null` or empty clears it, and a row without "
                "the field leaves the user's zone as it is",
            },
        },
    },
    "ClientRow": {"type": "object", "properties": {"name": STRING, "domains": STRINGS, "emails": STRINGS}},
    "ContactRow": {"type": "object", "properties": {"name": STRING, "emails": STRINGS, "client": _NULLABLE_STRING}},
    "RecordRow": {
        "type": "object",
        "properties": {"code": STRING, "type": STRING, "title": STRING, "client": _NULLABLE_STRING},
    },
    "Relink": obj(
        {name: INTEGER for name in RELINK_COUNTS},
        "Past mail re-filed by the change, as after `mailassist import`",
    ),
    "DirectoryChange": obj(
        {
            "kind": {"type": "string", "enum": list(DIRECTORY_KINDS)},
            "key": {**_NULLABLE_STRING, "description": "The path's key in its stored form; null for a bulk POST"},
            "rows": INTEGER,
            "created": INTEGER,
            "updated": INTEGER,
            "new_teams": array(STRING),
            "relink": ref("Relink"),
        }
    ),
    "DirectoryDeleted": obj(
        {
            "kind": {"type": "string", "enum": list(DIRECTORY_KINDS)},
            "key": STRING,
            "deleted": BOOLEAN,
            "links_removed": INTEGER,
            "codes_unresolved": {**INTEGER, "description": "Codes of a deleted record that wait again"},
            "participants_unmatched": INTEGER,
            "detached": {**INTEGER, "description": "Contacts and records of a deleted client, leads of a contact"},
            "relink": ref("Relink"),
        }
    ),
    "RowProblems": obj(
        {"error": STRING, "problems": array(obj({"line": INTEGER, "error": STRING}))},
        "Nothing was applied; `line` is the body's line (1 for a PUT)",
    ),
    "InUse": obj({"error": STRING, "references": COUNTS}, "What still refers to the entry, by kind"),
}
DIRECTORY_PARAMETERS: dict[str, Schema] = {
    "directoryKind": {
        "name": "kind",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": list(DIRECTORY_KINDS)},
    },
    "directoryKey": {
        "name": "key",
        "in": "path",
        "required": True,
        "description": "The natural key, percent-encoded (UTF-8; `/` as `%2F`): a user's email, a client's name "
        "(case-insensitive), any one of a contact's addresses, a record's code",
        "schema": STRING,
    },
    "force": _query("force", "true (or 1): delete even what filed mail or other entries refer to", {"type": "boolean"}),
}


def _write(summary: str, ok: Schema, *extra: tuple[str, Schema]) -> Schema:
    responses: dict[str, Schema] = {
        "200": ok,
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "403": _json(f"A token without the `{DIRECTORY_SCOPE}` scope, or a session: writes take tokens only", "Error"),
        "404": {"$ref": "#/components/responses/NotFound"},
        **dict(extra),
        "503": _json("The database is down, or this process has no directory rules", "Error"),
    }
    return {"summary": summary, "security": [{"bearerAuth": [DIRECTORY_SCOPE]}], "responses": responses}


def _directory_paths() -> dict[str, Schema]:
    row = {"oneOf": [ref(f"{kind.removesuffix('s').capitalize()}Row") for kind in DIRECTORY_KINDS]}
    bad_rows = ("422", _json("A row the CSV import would refuse", "RowProblems"))
    too_large = ("413", _json("The body is too large", "Error"))
    put = _write("Create or update one entry by its key", _json("Applied and re-filed", "DirectoryChange"), bad_rows)
    put["requestBody"] = {"required": True, "content": {"application/json": {"schema": row}}}
    put["responses"].update(dict([too_large]))
    delete = _write(
        "Delete one entry; 409 while anything refers to it, unless force",
        _json("Deleted", "DirectoryDeleted"),
        ("400", {"$ref": "#/components/responses/BadRequest"}),
        ("409", _json("Still referred to; a user that mail refers to is never deleted", "InUse")),
    )
    keyed = [_param("directoryKind"), _param("directoryKey")]
    put["parameters"] = keyed
    delete["parameters"] = [*keyed, _param("force")]
    bulk = _write(
        "Create or update many entries: JSON Lines, one row per line, all or nothing",
        _json("Applied and re-filed", "DirectoryChange"),
        bad_rows,
        too_large,
        ("415", _json("Not application/x-ndjson", "Error")),
    )
    bulk["requestBody"] = {
        "required": True,
        "content": {"application/x-ndjson": {"schema": {"type": "string", "description": "One row object a line"}}},
    }
    bulk["parameters"] = [_param("directoryKind")]
    # Parameters per operation, not per path item: the schema's tests read them from the operations.
    return {"/api/directory/{kind}": {"post": bulk}, "/api/directory/{kind}/{key}": {"put": put, "delete": delete}}


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
                "Create a token with `mailassist token create EMAIL`. The directory sync routes under "
                "`/api/directory/` write: they take a token with the `directory:write` scope, never a session."
            ),
        },
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A token starting with `ma_`"}
            },
            "schemas": copy.deepcopy({**SCHEMAS, **DIRECTORY_SCHEMAS}),
            "parameters": copy.deepcopy({**PARAMETERS, **DIRECTORY_PARAMETERS}),
            "responses": copy.deepcopy(RESPONSES),
        },
    }
