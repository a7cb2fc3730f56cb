"""The JSON shapes of the API's answers for the OpenAPI document (``web.openapi``): ``components/schemas``, and the
helpers that write a schema as data.
"""

from __future__ import annotations

from typing import Any

from store.page_shapes import KINDS
from store.shapes import STATUSES
from web.filters import DIRECTIONS

Schema = dict[str, Any]


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
    "IngestAccepted": obj(
        {
            "receipt": {"type": "string", "description": "The receipt id (the ingest log's, and SMTP's 'queued as')"},
            "status": {"type": "string", "enum": ["queued", "duplicate"]},
            "duplicate": {"type": "boolean", "description": "true: this user had handed in these exact bytes"},
            "submitter": STRING,
            "proof": {"type": "string", "description": "api: the token's user vouches, like a personal address"},
            "source": {"type": "string", "enum": ["api"]},
            "reply": {"type": "string", "description": "What SMTP would have answered: 250 2.0.0 Ok: queued as ID"},
        },
        "A message taken: 202 when new, 200 when a duplicate",
    ),
    "IngestError": {
        "type": "object",
        "required": ["error"],
        "description": "Refused (422), too big (413), or not stored (503): with the SMTP reply it equals",
        "properties": {
            "error": STRING,
            "reply": {"type": "string", "description": "The SMTP reply, e.g. 554 5.6.0 Not an email: …"},
            "code": {"type": "string", "description": "Its code: 550, 552, 554, 451…"},
            "enhanced": {"type": "string", "description": "Its enhanced status code: 5.7.1, 5.3.4…"},
            "reason": STRING,
            "limit": {"type": "integer", "description": "413: the size limit in bytes (smtp.max_message_size)"},
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
                    "postmaster, api (an ingest token), file (mailassist ingest --as), imap:personal or imap:group "
                    "(an IMAP mailbox source), attached (forwarded beside another receipt's original)",
                }
            ),
            "source": {
                "type": "string",
                "description": "Where the receipt came from: smtp, imap:<source name>, api (POST /api/ingest), "
                "file (mailassist ingest) or attached:<receipt id> (a message forwarded beside that receipt's "
                "original)",
            },
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
