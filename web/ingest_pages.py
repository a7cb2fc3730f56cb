"""The ingest log (role ``all`` only): ``/inbound``, every receipt with its subject, sender, outcome and reason,
filtered by ``status`` and ``reason``, newest first a page at a time (``after``, the cursor of the "Older" link);
``/inbound/{id}``, one receipt in full (envelope, attempts, last error, what proved its submitter, the raw
message's SHA-256), and ``/inbound/{id}/raw.eml``, its raw bytes.

Anyone but role ``all`` gets the page that does not exist, before a parameter is read: the log names every sender,
whoever's mail it was, and what was never filed at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from store import STATUSES, LoginView, Viewer
from store.ingest import MAX_REASON_FILTER
from store.page_shapes import IngestRow
from web.auth.middleware import require_user
from web.downloads import content_disposition
from web.errors import FilterError, NotFoundError
from web.headers import DOWNLOAD_HEADERS
from web.mailhead import HEAD_BYTES, Head, read_head
from web.pagekit import PageKit, get_routes
from web.params import limit_param, parse_after, parse_limit, parse_status

#: Receipts the ingest log shows by default, and at most (``?limit=``).
INBOUND_LIMIT = 100
MAX_INBOUND_LIMIT = 1000
#: Receipts a status tab counts at most: past it the tab says "10,000+" (counting every receipt ever taken made the
#: log's first page slower the longer the gateway ran).
TAB_COUNT_CAP = 10_000
#: What an inbound id can look like (``store.ids``: 18 Crockford base32 digits; older ids were hex).
_RECEIPT_ID = re.compile(r"[0-9A-Za-z]{1,32}")


@dataclass(frozen=True, slots=True)
class LogQuery:
    status: str | None
    reason: str | None
    limit: int
    limit_param: str | None
    after: str | None = None


def inbound_params(params: Mapping[str, str]) -> LogQuery:
    """The ingest log's ``status`` (one of ``STATUSES``, or none), ``reason`` (contained in the reason or error,
    any case), ``limit`` and the cursor ``after``; ``FilterError`` for a bad value (the store checks the cursor)."""
    status = parse_status(params, STATUSES)
    reason = params.get("reason", "").strip() or None
    if reason is not None and len(reason) > MAX_REASON_FILTER:
        raise FilterError("reason", f"at most {MAX_REASON_FILTER} characters")
    limit = parse_limit(params, INBOUND_LIMIT, MAX_INBOUND_LIMIT)
    return LogQuery(status, reason, limit, limit_param(params), parse_after(params))


def tab_count(n: int) -> str:
    """A tab's count: ``n``, or ``10,000+`` once it is past ``TAB_COUNT_CAP``. A status past the cap counts
    ``TAB_COUNT_CAP + 1``, so the "all" tab, their sum, is past it too."""
    return f"{TAB_COUNT_CAP:,}+" if n > TAB_COUNT_CAP else f"{n:,}"


def log_url(query: LogQuery, **changes: str | None) -> str:
    """``/inbound`` with the query's filters and page size, ``changes`` applied (``None`` drops one); from the first
    page unless ``changes`` names an ``after``."""
    params = {"status": query.status, "reason": query.reason, "limit": query.limit_param, "after": None, **changes}
    kept = {k: v for k, v in params.items() if v}
    return "/inbound?" + urlencode(kept) if kept else "/inbound"


def shown_head(row: IngestRow, heads: Mapping[str, bytes]) -> Head:
    """What the log shows as subject and sender: the filed message's, else what the raw message's headers say."""
    if row.message_id is not None:
        return Head(row.subject, row.from_name, row.from_address)
    raw = heads.get(row.receipt.sha256)
    return read_head(raw) if raw is not None else Head(None, None, None)


class IngestPages:
    """The handlers; ``ingest_routes`` maps them to paths. Each answers 404 to anyone but role ``all`` first."""

    def __init__(self, kit: PageKit) -> None:
        self.kit = kit
        self.store = kit.store

    async def inbound(self, request: Request) -> Response:
        """``GET /inbound``: a page of the log, filtered, with a tab per status and its count."""
        _admin_only(request)
        query = inbound_params(request.query_params)

        def fetch(user: LoginView, viewer: Viewer) -> tuple[list[tuple[IngestRow, Head]], str | None, dict[str, int]]:
            page = self.store.queries.list_ingest_log(
                status=query.status, reason=query.reason, limit=query.limit, after=query.after
            )
            unfiled = [r.receipt.sha256 for r in page.items if r.message_id is None]
            heads = self.store.content.get_raw_heads(unfiled, HEAD_BYTES)
            counts = self.store.receipts.count_inbound_by_status(cap=TAB_COUNT_CAP)
            return [(r, shown_head(r, heads)) for r in page.items], page.next, counts

        rows, next_cursor, counts = await self.kit.load(request, fetch)
        tabs = [("all", tab_count(sum(counts.values())), log_url(query, status=None), query.status is None)]
        tabs += [(s, tab_count(n), log_url(query, status=s), query.status == s) for s, n in counts.items()]
        context = {
            "nav": "inbound",
            "rows": rows,
            "tabs": tabs,
            "status": query.status,
            "reason": query.reason or "",
            "limit": query.limit,
            "limit_param": query.limit_param or "",
            "statuses": STATUSES,
            "clear_reason_url": log_url(query, reason=None) if query.reason else None,
            "next_url": log_url(query, after=next_cursor) if next_cursor else None,
            "first_url": log_url(query) if query.after else None,
        }
        return self.kit.render(request, "inbound.html", context)

    async def receipt(self, request: Request) -> Response:
        """``GET /inbound/{id}``: one receipt in full."""
        receipt_id = _receipt_id(request)

        def fetch(user: LoginView, viewer: Viewer) -> tuple[IngestRow, Head] | None:
            row = self.store.queries.get_ingest_row(receipt_id)
            if row is None:
                return None
            heads = self.store.content.get_raw_heads([row.receipt.sha256], HEAD_BYTES) if row.message_id is None else {}
            return row, shown_head(row, heads)

        row, head = await self.kit.find(request, fetch)
        context = {"nav": "inbound", "row": row, "r": row.receipt, "head": head}
        return self.kit.render(request, "receipt.html", context)

    async def raw(self, request: Request) -> Response:
        """``GET /inbound/{id}/raw.eml``: the raw bytes as received, as a download."""
        receipt_id = _receipt_id(request)

        def fetch(user: LoginView, viewer: Viewer) -> bytes | None:
            found = self.store.receipts.get_inbound(receipt_id)
            return self.store.content.get_blob(found.sha256) if found is not None else None

        data = await self.kit.find(request, fetch)
        headers = {"Content-Disposition": content_disposition(f"receipt-{receipt_id}.eml"), **DOWNLOAD_HEADERS}
        return Response(data, media_type="message/rfc822", headers=headers)


def _admin_only(request: Request) -> None:
    """``NotFoundError`` for anyone but role ``all``: for them the log does not exist."""
    if require_user(request).role != "all":
        raise NotFoundError


def _receipt_id(request: Request) -> str:
    """The path's receipt id, once the user may see the log; ``NotFoundError`` for what can be no receipt id."""
    _admin_only(request)
    receipt_id: str = request.path_params["receipt_id"]
    if not _RECEIPT_ID.fullmatch(receipt_id):
        raise NotFoundError
    return receipt_id


def ingest_routes(kit: PageKit) -> list[BaseRoute]:
    """``/inbound``, ``/inbound/{id}`` and ``/inbound/{id}/raw.eml``."""
    pages = IngestPages(kit)
    return get_routes(
        {"/inbound": pages.inbound, "/inbound/{receipt_id}": pages.receipt, "/inbound/{receipt_id}/raw.eml": pages.raw}
    )
