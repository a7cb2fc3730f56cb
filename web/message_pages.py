"""Message pages: the filtered list and its CSV export, one message, its sanitized HTML body for the sandboxed iframe,
its ``cid:`` images, attachment downloads and (role ``all``) the raw ``.eml``.

Inside the email document, ``cid:`` raster images become ``data:`` URLs (``inline_images`` says why); the
``/messages/{id}/cid/…`` route serves the same images to a logged-in browser, and is where larger ones point.
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute

from store import (
    BadCursorError,
    BlobNotFoundError,
    LoginView,
    MessageDetail,
    MessagePage,
    MessageRow,
    Store,
    UserRef,
    Viewer,
)
from store.page_shapes import KINDS
from store.safehtml import IFRAME_SANDBOX, SanitizedHtml, resolve_cids, sanitize_for_storage
from web.downloads import attachment_filename, base_type, content_disposition, is_inline_image
from web.errors import FilterError, refusal
from web.export import csv_lines
from web.filters import DIRECTIONS, FILTER_PARAMS, filter_query, parse_filter, parse_list_query
from web.headers import DOWNLOAD_HEADERS, EMAIL_FRAME_HEADERS, MESSAGE_PAGE_CSP
from web.pagekit import PageKit, get_routes
from web.params import path_id
from web.timezone import viewer_zone

#: ``cid:`` images larger than this, or past this total per message, are not inlined into the email document.
MAX_INLINE_IMAGE = 2 * 1024 * 1024
MAX_INLINE_IMAGES = 8 * 1024 * 1024
CSV_FILENAME = "messages.csv"


#: Characters of the text body the message page shows: a page holds the text whole, so a 20 MB text made a 20 MB
#: page that is slow to render and to lay out, for text nobody reads on a screen. The rest is in the raw message
#: and ``/api/messages/{id}``.
MAX_SHOWN_TEXT = 256 * 1024


def _bare_cid(content_id: str) -> str:
    return content_id.strip().strip("<>")


def cid_resolver(detail: MessageDetail, data_urls: Mapping[str, str] | None = None) -> Callable[[str], str | None]:
    """The sanitizer's ``cid_url``: for Content-IDs of this message's attachments, the image as a ``data:`` URL when
    ``data_urls`` has it, else its ``/messages/{id}/cid/…`` URL; ``None`` (the image is dropped) for the rest."""
    known = {_bare_cid(a.content_id) for a in detail.attachments if a.content_id}
    known |= {unquote(cid) for cid in known}
    inlined = {_bare_cid(cid): url for cid, url in (data_urls or {}).items()}

    def url(content_id: str) -> str | None:
        bare = _bare_cid(content_id)
        if not bare or bare not in known:
            return None
        return inlined.get(bare) or f"/messages/{detail.id}/cid/{quote(bare, safe='@')}"

    return url


def inline_images(store: Store, detail: MessageDetail) -> dict[str, str]:
    """The message's ``cid:`` raster images as ``data:`` URLs, by Content-ID, within ``MAX_INLINE_IMAGE(S)``.

    The email document lives in a sandboxed frame with an opaque origin: the browser sends no SameSite cookie with
    its image requests, so an image URL on this site would meet the login page. A ``data:`` URL needs no request.
    """
    urls: dict[str, str] = {}
    budget = MAX_INLINE_IMAGES
    for a in detail.attachments:
        if not a.content_id or not is_inline_image(a.content_type) or a.size > min(MAX_INLINE_IMAGE, budget):
            continue
        try:
            data = store.content.get_blob(a.sha256)
        except BlobNotFoundError:
            continue
        budget -= len(data)
        urls.setdefault(_bare_cid(a.content_id), f"data:{base_type(a.content_type)};base64,{b64encode(data).decode()}")
    return urls


def safe_body(detail: MessageDetail) -> SanitizedHtml | None:
    """The message's HTML body as sanitized when it was filed, or ``None`` when it has none. A message filed before
    the store kept that (revision 0010) is sanitized now, on each view."""
    if detail.body_html_safe is not None:
        return SanitizedHtml(detail.body_html_safe, detail.html_blocked, detail.html_blocked_hosts)
    if not detail.body_html:
        return None
    return sanitize_for_storage(detail.body_html, (a.content_id for a in detail.attachments))


def framed_body(detail: MessageDetail, data_urls: Mapping[str, str] | None = None) -> str | None:
    """The iframe's document: the safe body with its ``cid:`` images pointed at ``cid_resolver``'s URLs."""
    body = safe_body(detail)
    return None if body is None else resolve_cids(body.html, cid_resolver(detail, data_urls))


def _form_values(params: Mapping[str, str]) -> dict[str, str]:
    """The filter form's fields as the request gave them, for re-filling the form."""
    return {name: params.get(name, "").strip() for name in FILTER_PARAMS}


class MessagePages:
    """The handlers; ``message_routes`` maps them to paths."""

    def __init__(self, kit: PageKit) -> None:
        self.kit = kit
        self.store = kit.store

    async def messages(self, request: Request) -> Response:
        """``GET /messages``: the filtered list, newest first, a keyset page at a time; a bad filter is a 400.

        The one page that answers a bad parameter itself: the 400 is this page, its form filled in as sent and the
        message (``web.errors.refusal``'s) beside it, so the reader can correct the filter where they wrote it.
        """
        params = request.query_params
        zone = viewer_zone(request).zone

        def fetch(user: LoginView, viewer: Viewer) -> tuple[list[UserRef], MessagePage | None, str | None]:
            users = self.store.queries.list_users()
            try:
                query = parse_list_query(params, zone=zone)
                page = self.store.queries.list_messages(viewer, query.filter, after=query.after, limit=query.limit)
            except (FilterError, BadCursorError) as exc:
                answer = refusal(exc)
                assert answer is not None
                return users, None, answer.message
            return users, page, None

        users, page, error = await self.kit.load(request, fetch)
        limit = params.get("limit", "").strip() or None
        next_url = None
        if page is not None and page.next is not None:
            next_url = "/messages?" + filter_query(params, after=page.next, limit=limit)
        context: dict[str, Any] = {
            "nav": "messages",
            "form": _form_values(params),
            "users": users,
            "directions": DIRECTIONS,
            "kinds": KINDS,
            "items": page.items if page is not None else (),
            "error": error,
            "next_url": next_url,
            "first_url": "/messages?" + filter_query(params, limit=limit) if params.get("after") else None,
            "export_url": "/messages.csv?" + filter_query(params),
        }
        return self.kit.render(request, "messages.html", context, status_code=400 if error else 200)

    async def export_csv(self, request: Request) -> Response:
        """``GET /messages.csv``: every message of the filter the viewer may see, streamed as CSV.

        Every parameter is checked, and the first page read, before the status line goes out: a bad request is a
        400 and a failing database an error page, not a 200 whose body stops short.
        """
        f = parse_filter(request.query_params, zone=viewer_zone(request).zone)

        def first_page(user: LoginView, viewer: Viewer) -> Iterator[MessageRow]:
            rows = self.store.queries.iter_messages(viewer, f)
            first = next(rows, None)
            return rows if first is None else chain((first,), rows)

        rows = await self.kit.load(request, first_page)
        headers = {"Content-Disposition": f'attachment; filename="{CSV_FILENAME}"', **DOWNLOAD_HEADERS}
        # A sync iterator: Starlette pulls it in the thread pool, and the store reads a page of rows at a time.
        return StreamingResponse(csv_lines(rows), media_type="text/csv; charset=utf-8", headers=headers)

    async def message(self, request: Request) -> Response:
        """``GET /messages/{id}``: the message in full; its HTML body comes from ``message_html`` in an iframe."""
        message_id = path_id(request, "message_id")

        def fetch(user: LoginView, viewer: Viewer) -> tuple[MessageDetail, SanitizedHtml | None] | None:
            detail = self.store.queries.get_message(viewer, message_id, text_limit=MAX_SHOWN_TEXT)
            return (detail, safe_body(detail)) if detail is not None else None

        detail, body = await self.kit.find(request, fetch)
        attachments = [(a, attachment_filename(a.filename, a.content_type, a.id)) for a in detail.attachments]
        context = {
            "text": detail.body_text,
            "text_more": detail.body_text_length - len(detail.body_text or ""),
            "nav": "messages",
            "m": detail,
            "body": body,
            "sandbox": IFRAME_SANDBOX,
            "attachments": attachments,
            "unresolved": [c.code for c in detail.codes if c.record_id is None],
        }
        return self.kit.render(request, "message.html", context, headers={"Content-Security-Policy": MESSAGE_PAGE_CSP})

    async def message_html(self, request: Request) -> Response:
        """``GET /messages/{id}/html``: the sanitized body, under its own CSP, framable by our pages only."""
        message_id = path_id(request, "message_id")

        def fetch(user: LoginView, viewer: Viewer) -> str | None:
            detail = self.store.queries.get_message(viewer, message_id, text_limit=0)
            if detail is None:
                return None
            return framed_body(detail, inline_images(self.store, detail))

        document = await self.kit.find(request, fetch)
        return HTMLResponse(document, headers=EMAIL_FRAME_HEADERS)

    async def message_cid(self, request: Request) -> Response:
        """``GET /messages/{id}/cid/{content-id}``: an inline image; any other type downloads."""
        message_id = path_id(request, "message_id")
        content_id: str = request.path_params["content_id"]

        def fetch(user: LoginView, viewer: Viewer) -> tuple[str, int, bytes] | None:
            ref = self.store.queries.find_attachment_by_cid(viewer, message_id, content_id)
            if ref is None:
                return None
            return ref.content_type, ref.id, self.store.content.get_blob(ref.sha256)

        content_type, attachment_id, data = await self.kit.find(request, fetch)
        if is_inline_image(content_type):
            return Response(data, media_type=base_type(content_type), headers=DOWNLOAD_HEADERS)
        name = attachment_filename(None, content_type, attachment_id)
        headers = {"Content-Disposition": content_disposition(name), **DOWNLOAD_HEADERS}
        return Response(data, media_type="application/octet-stream", headers=headers)

    async def attachment(self, request: Request) -> Response:
        """``GET /messages/{id}/attachments/{aid}``: the attachment, always as a download."""
        message_id, attachment_id = path_id(request, "message_id"), path_id(request, "attachment_id")

        def fetch(user: LoginView, viewer: Viewer) -> tuple[str, bytes] | None:
            ref = self.store.queries.get_attachment(viewer, message_id, attachment_id)
            if ref is None:
                return None
            return attachment_filename(ref.filename, ref.content_type, ref.id), self.store.content.get_blob(ref.sha256)

        name, data = await self.kit.find(request, fetch)
        headers = {"Content-Disposition": content_disposition(name), **DOWNLOAD_HEADERS}
        return Response(data, media_type="application/octet-stream", headers=headers)

    async def raw(self, request: Request) -> Response:
        """``GET /messages/{id}/raw.eml``: the source as received, for role ``all`` only."""
        message_id = path_id(request, "message_id")

        def fetch(user: LoginView, viewer: Viewer) -> bytes | None:
            # The raw source is for role ``all`` only; anyone else gets the page that does not exist.
            if user.role != "all":
                return None
            detail = self.store.queries.get_message(viewer, message_id)
            return self.store.content.get_blob(detail.raw_sha256) if detail is not None else None

        data = await self.kit.find(request, fetch)
        headers = {"Content-Disposition": content_disposition(f"message-{message_id}.eml"), **DOWNLOAD_HEADERS}
        return Response(data, media_type="message/rfc822", headers=headers)


def message_routes(kit: PageKit) -> list[BaseRoute]:
    """``/messages`` (list), ``/messages.csv``, and ``/messages/{id}`` with its body, images and downloads."""
    pages = MessagePages(kit)
    one = "/messages/{message_id:int}"
    return get_routes(
        {
            "/messages": pages.messages,
            "/messages.csv": pages.export_csv,
            one: pages.message,
            f"{one}/html": pages.message_html,
            f"{one}/cid/{{content_id:path}}": pages.message_cid,
            f"{one}/attachments/{{attachment_id:int}}": pages.attachment,
            f"{one}/raw.eml": pages.raw,
        }
    )
