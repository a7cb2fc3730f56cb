"""The directory sync API: ``PUT`` and ``DELETE /api/directory/{kind}/{key}``, and ``POST /api/directory/{kind}``
of JSON Lines, for API tokens with the ``directory:write`` scope only, never a session (DESIGN.md, invariant 7).

Rows are checked by the CSV import's own rules (``DirectoryRules``, handed in by whoever builds the app: ``web``
imports no CSV code), applied by the store's ``apply_*`` verbs all or nothing, and each change re-files the past
mail it affects (a scoped relink, as after an import) before the answer, which counts what it did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from store import RelinkResult, RelinkScope, Store
from store.errors import EntryInUseError, ImportConflictError
from store.shapes import ClientRow, ContactRow, ImportResult, RecordRow, UserRow
from web.auth.middleware import AUTH_VIA_KEY
from web.bodies import BodyTooLargeError, read_body
from web.errors import FilterError, NotFoundError, RefusedError

#: The scope a token needs for every route here (``mailassist token create --scope directory:write``).
SCOPE = "directory:write"
#: The kinds, as ``mailassist import`` names them.
KINDS = ("users", "clients", "contacts", "records")
#: The field of a row that holds its natural key: what ``{key}`` in the path names.
KEY_FIELDS = {"users": "email", "clients": "name", "contacts": "emails", "records": "code"}
#: The largest body of a ``PUT`` (one row), and of a bulk ``POST`` (bounded work: DESIGN.md, invariant 9).
MAX_ROW_BYTES = 64 * 1024
MAX_BULK_BYTES = 16 * 1024 * 1024
#: The media types a bulk ``POST`` takes.
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl")
#: Problems listed in a 422 at most (the count is in ``error``).
MAX_PROBLEMS = 1000


@dataclass(frozen=True, slots=True)
class DirectoryRules:
    """What the directory routes need from the CSV import (``mailassist.importer``), which ``web`` cannot import."""

    #: ``(kind, line, JSON value) → row``; raises ``ValueError`` with the message for the caller.
    parse_row: Callable[[str, int, object], Any]
    #: ``(kind, key) → the key's stored form``; raises ``ValueError``.
    natural_key: Callable[[str, str], str]
    #: What past mail applying these rows may re-file.
    relink_scope: Callable[[Sequence[Any]], RelinkScope]
    free_mail_domains: Collection[str] = ()


def _error(status: int, error: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, **extra}, status_code=status)


def _problems(problems: Sequence[tuple[int, str]]) -> JSONResponse:
    """422: what is wrong with which line; nothing was applied."""
    n = len(problems)
    listed = [{"line": line, "error": message} for line, message in sorted(problems)[:MAX_PROBLEMS]]
    error = f"{n} row{'' if n == 1 else 's'} invalid; nothing was applied"
    return _error(422, error, problems=listed)


#: A relink's counts, as every write here answers them (``RelinkResult``'s fields and ``links_added``).
RELINK_COUNTS = (
    "codes_resolved",
    "leads_converted",
    "participants_matched",
    "links_added",
    "record_links",
    "contact_links",
    "client_links",
)


def relink_json(result: RelinkResult) -> dict[str, int]:
    """A relink's counts, as every write here answers them."""
    return {name: int(getattr(result, name)) for name in RELINK_COUNTS}


def _load_json(data: bytes) -> object:
    """``data`` as JSON; raises ``ValueError`` with a short reason."""
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not JSON this API takes: nested too deeply") from None


class DirectoryApi:
    """The handlers, over one store and the import's rules (``None``: the routes answer 503)."""

    def __init__(self, store: Store, rules: DirectoryRules | None) -> None:
        self.store = store
        self.rules = rules

    def _apply(self, kind: str, rows: Sequence[Any]) -> tuple[ImportResult, RelinkResult]:
        """Apply ``rows`` all or nothing, then re-file the mail they affect. Raises ``ImportConflictError``."""
        assert self.rules is not None
        verbs: dict[str, Callable[[Sequence[Any]], ImportResult]] = {
            "users": self.store.directory.apply_users,
            "clients": self.store.directory.apply_clients,
            "contacts": self.store.directory.apply_contacts,
            "records": self.store.directory.apply_records,
        }
        result = verbs[kind](rows)
        return result, self._relink(self.rules.relink_scope(rows))

    def _relink(self, scope: RelinkScope) -> RelinkResult:
        assert self.rules is not None
        if not scope:
            return RelinkResult()
        return self.store.filing.relink(scope, free_mail_domains=self.rules.free_mail_domains)

    def _target(self, request: Request) -> tuple[str, DirectoryRules]:
        """The path's kind and the rules; refused for a session, a kind that is none, or no rules."""
        kind = request.path_params["kind"]
        if request.scope.get(AUTH_VIA_KEY) != "token":
            # The auth gate refuses sessions already; this route never trusts that alone.
            raise RefusedError(403, f"directory writes take an API token with the '{SCOPE}' scope, not a session")
        if kind not in KINDS:
            raise NotFoundError
        if self.rules is None:
            raise RefusedError(503, "directory sync is not configured in this process")
        return kind, self.rules

    async def _applied(self, kind: str, rows: Sequence[Any], key: str | None = None) -> Response:
        try:
            result, relinked = await run_in_threadpool(self._apply, kind, rows)
        except ImportConflictError as exc:
            return _problems(exc.problems)
        body = {
            "kind": kind,
            "key": key,
            "rows": len(rows),
            "created": result.created,
            "updated": result.updated,
            "new_teams": list(result.new_teams),
            "relink": relink_json(relinked),
        }
        return JSONResponse(body)

    async def put(self, request: Request) -> Response:
        """Create or update one entry, found by the key in the path; the body is one row as a JSON object."""
        kind, rules = self._target(request)
        try:
            body = await read_body(request, MAX_ROW_BYTES)
        except BodyTooLargeError:
            return _error(413, f"a row is at most {MAX_ROW_BYTES} bytes")
        try:
            key = rules.natural_key(kind, request.path_params["key"])
            fields = _load_json(body)
            if isinstance(fields, dict) and not fields.get(KEY_FIELDS[kind]):
                fields = {**fields, KEY_FIELDS[kind]: [key] if kind == "contacts" else key}
            row = rules.parse_row(kind, 1, fields)
        except ValueError as exc:
            return _problems([(1, str(exc))])
        if not _same_key(kind, key, row):
            field = KEY_FIELDS[kind]
            what = "include" if kind == "contacts" else "match"
            return _problems([(1, f"{field}: must {what} the key in the path, '{key}'")])
        return await self._applied(kind, [row], key=key)

    async def bulk(self, request: Request) -> Response:
        """Create or update many entries: one JSON object per line (JSON Lines), all or nothing."""
        kind, rules = self._target(request)
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type not in NDJSON_TYPES:
            return _error(415, f"expected Content-Type {NDJSON_TYPES[0]}: one JSON object per line")
        try:
            body = await read_body(request, MAX_BULK_BYTES)
        except BodyTooLargeError:
            return _error(413, f"a bulk request is at most {MAX_BULK_BYTES} bytes; split it")
        rows: list[Any] = []
        problems: list[tuple[int, str]] = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                rows.append(rules.parse_row(kind, number, _load_json(line)))
            except ValueError as exc:
                problems.append((number, str(exc)))
        if problems:
            return _problems(problems)
        if not rows:
            return _problems([(1, "no rows: the body holds no JSON object")])
        return await self._applied(kind, rows)

    async def delete(self, request: Request) -> Response:
        """Delete one entry; refused (409) while filed mail or other entries refer to it, unless ``?force=true``."""
        kind, rules = self._target(request)
        force_value = request.query_params.get("force", "false").lower()
        if force_value not in ("true", "false", "1", "0"):
            raise FilterError("force", "expected true or false")
        try:
            key = rules.natural_key(kind, request.path_params["key"])
        except ValueError:
            raise NotFoundError from None
        try:
            result = await run_in_threadpool(
                self.store.directory.delete_entry, kind, key, force=force_value in ("true", "1")
            )
        except EntryInUseError as exc:
            hint = "; add ?force=true to delete it anyway" if exc.forceable else "; a user that mail refers to stays"
            return _error(409, f"'{key}' is referred to by {exc}{hint}", references=exc.references)
        if result is None:
            raise NotFoundError
        relinked = await run_in_threadpool(self._relink, RelinkScope(addresses=result.addresses))
        return JSONResponse(
            {
                "kind": kind,
                "key": key,
                "deleted": True,
                "links_removed": result.links_removed,
                "codes_unresolved": result.codes_unresolved,
                "participants_unmatched": result.participants_unmatched,
                "detached": result.detached,
                "relink": relink_json(relinked),
            }
        )


def _same_key(kind: str, key: str, row: Any) -> bool:
    if isinstance(row, ContactRow):
        return key in row.emails
    if isinstance(row, ClientRow):
        return row.name.casefold() == key.casefold()
    if isinstance(row, UserRow):
        return row.email == key
    assert isinstance(row, RecordRow), kind
    return row.code == key


def directory_routes(store: Store, rules: DirectoryRules | None) -> list[Route]:
    """The directory sync routes; before ``web.api``'s catch-all."""
    api = DirectoryApi(store, rules)
    return [
        Route("/api/directory/{kind}", api.bulk, methods=["POST"], name="api_directory_bulk"),
        Route("/api/directory/{kind}/{key:path}", api.put, methods=["PUT"], name="api_directory_put"),
        Route("/api/directory/{kind}/{key:path}", api.delete, methods=["DELETE"], name="api_directory_delete"),
    ]
