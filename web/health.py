"""``GET /healthz``: whether the database (and the queue broker, when the process has one) answer, for load
balancers and orchestrators. Public, and JSON: 200 when every check passes, else 503 naming what failed.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from store import Store, StoreError


class Health:
    """The handler over one store and the broker check (raises when the broker is unreachable)."""

    def __init__(self, store: Store, broker_check: Callable[[], None] | None) -> None:
        self.store = store
        self.broker_check = broker_check

    async def healthz(self, request: Request) -> JSONResponse:
        """``GET /healthz``: ``{"ok": …, "db": "ok" | "error: …", "broker": …}``."""
        checks: dict[str, str] = {}
        try:
            await run_in_threadpool(self.store.ping)
            checks["db"] = "ok"
        except StoreError as exc:
            checks["db"] = f"error: {exc}"
        if self.broker_check is not None:
            try:
                await run_in_threadpool(self.broker_check)
                checks["broker"] = "ok"
            except Exception as exc:
                # Whatever the broker's client raises: the check reports it, it never fails the health page.
                checks["broker"] = f"error: {exc.__class__.__name__}"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503)


def health_routes(store: Store, broker_check: Callable[[], None] | None) -> list[Route]:
    """``GET /healthz``."""
    health = Health(store, broker_check)
    return [Route("/healthz", health.healthz)]
