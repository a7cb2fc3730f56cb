"""``create_app``: the viewer's ASGI app. For now a status page and ``/healthz``; pages come with the viewer."""

from __future__ import annotations

import html
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from store import Store, StoreError

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(store: Store, *, broker_check: Callable[[], None] | None = None) -> Starlette:
    """Build the viewer over ``store``; ``broker_check`` raises when the queue broker is unreachable."""

    async def index(request: Request) -> HTMLResponse:
        counts = await run_in_threadpool(store.count_inbound_by_status)
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in counts.items())
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>mailassist</title>"
            f"<h1>mailassist</h1><table>{rows}</table></html>"
        )
        return HTMLResponse(body, headers=SECURITY_HEADERS)

    async def healthz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            await run_in_threadpool(store.ping)
            checks["db"] = "ok"
        except StoreError as exc:
            checks["db"] = f"error: {exc}"
        if broker_check is not None:
            try:
                await run_in_threadpool(broker_check)
                checks["broker"] = "ok"
            except Exception as exc:
                checks["broker"] = f"error: {exc.__class__.__name__}"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503, headers=SECURITY_HEADERS)

    return Starlette(routes=[Route("/", index), Route("/healthz", healthz)])
