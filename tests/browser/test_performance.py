"""Every viewer page over a store seeded by ``bench/seed_viewer.py``, in a real browser: each answers, and each
page's server time (the browser's request-to-first-byte) is recorded and held to a generous bound.

The store here is a tenth of the issue's size (10,000 messages, 1,000 clients; seeding the full 100k takes half a
minute before any page is opened). The bound is ``BOUND_MS``, ten times the 100 ms goal: it catches a page that
went quadratic (a query per row, a count over every link), not a slow minute on a shared machine. The real p95 check
at 100k messages is ``bench/seed_viewer.py`` (exits 1 over 100 ms), with its figures in ``bench/RESULTS.md``.
The times are written to ``artifacts/browser/page_times.json`` for a look at trends.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from store import Store
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, artifacts_dir, log_in
from tests.conftest import ROOT, free_port, sqlite_url
from web.app import create_app

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright

pytestmark = pytest.mark.browser

#: The seeded size: a tenth of issue 19's 100k messages and 10k clients.
MESSAGES = 10_000
CLIENTS = 1_000
#: Ten times the goal's 100 ms: only a page gone quadratic fails here (see the module docstring).
BOUND_MS = 1_000.0
#: Times each page is opened; the least time counts.
TRIES = 3
#: Pages only role ``all`` may open; an ``own`` user is answered 404 there.
ADMIN_ONLY = ("/users", "/inbound")


def _seed_viewer() -> ModuleType:
    if "seed_viewer" in sys.modules:
        return sys.modules["seed_viewer"]
    path = ROOT / "bench" / "seed_viewer.py"
    spec = importlib.util.spec_from_file_location("seed_viewer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed_viewer"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def seeded_url(tmp_path: Path) -> Iterator[tuple[str, Any, ModuleType]]:
    """The viewer over a ``seed_viewer`` store under uvicorn: (base URL, what was seeded, the bench module)."""
    bench = _seed_viewer()
    where = tmp_path / "seeded"  # the browser fixtures' own store is in tmp_path
    where.mkdir()
    store = Store(sqlite_url(where), where / "blobs")
    store.open(upgrade=True)
    seeded = bench.seed_viewer(store, clients=CLIENTS, messages=MESSAGES)
    app = create_app(store, secret_key="browser-perf-" + "k" * 32, secure_cookies="never")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", seeded, bench
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def _server_ms(page: Page, url: str) -> tuple[int, float]:
    """Open ``url`` ``TRIES`` times; its status and the least request-to-first-byte time in milliseconds (a page
    gone quadratic is slow every time, a busy machine only some of the times)."""
    best, status = float("inf"), 0
    for _ in range(TRIES):
        response = page.goto(url)
        assert response is not None, url
        timing = response.request.timing
        best, status = min(best, timing["responseStart"] - timing["requestStart"]), response.status
    return status, best


@pytest.fixture
def seeded_context(
    playwright: Playwright, seeded_url: tuple[str, Any, ModuleType], tmp_path: Path
) -> Iterator[BrowserContext]:
    """A Chromium in a fresh profile, its relative URLs on the seeded server."""
    ctx = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        base_url=seeded_url[0],
        service_workers="block",
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def test_every_page_answers_within_a_generous_bound_over_a_seeded_store(
    seeded_context: BrowserContext, seeded_url: tuple[str, Any, ModuleType]
) -> None:
    base, seeded, bench = seeded_url
    context = seeded_context
    times: dict[str, dict[str, float]] = {}
    slow: list[str] = []
    for email in (seeded.admin, seeded.team_user, seeded.own_user):
        page = context.new_page()
        log_in(page, email, seeded.password)
        for path in bench.pages(seeded, _newest_of(base, page)):
            status, ms = _server_ms(page, base + path)
            expected = 404 if email != seeded.admin and path.split("?")[0] in ADMIN_ONLY else 200
            if path == "/leads/1" and status == 404:
                expected = 404  # lead 1 may come from mail this user may not see
            assert status == expected, (email, path, status)
            times.setdefault(email, {})[path] = round(ms, 1)
            if ms > BOUND_MS:
                slow.append(f"{email} {path}: {ms:.0f} ms")
        page.close()
    (artifacts_dir() / "page_times.json").write_text(json.dumps(times, indent=1), encoding="utf-8")
    assert len(times[seeded.admin]) == len(bench.pages(seeded)) > 30
    assert slow == [], f"pages over {BOUND_MS:g} ms (10x the goal): {slow}"


def _newest_of(base: str, page: Page) -> int:
    """The id of the first message on the viewer's message list: one this viewer may open."""
    page.goto(base + "/messages")
    href = page.locator("a[href^='/messages/']").first.get_attribute("href")
    assert href is not None
    return int(href.split("/")[2].split("?")[0])
