"""Screenshot baselines: every page of the viewer (``viewer_pages``, and the login), as role ``all`` and the pages
that differ for a salesperson, at 1400 and 390 px wide, shot full-page in Chromium and compared with the PNG under
``tests/browser/screenshots/`` within a tolerance (``tests.browser.pixels``).

The world is fixed (``tests.browser.screenshot_world``): seeded dates, the store's own timestamps and receipt ids
rewritten, the viewer's clock frozen, the browser in UTC and en-US, animations and the caret off.

``UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_screenshots.py`` (or ``make screenshots``) writes a
baseline that is missing or no longer matches; without it (and always in CI), either fails the test, which leaves
the shot and a diff image under ``artifacts/browser/screenshots/`` (or ``$ARTIFACTS_DIR``) and prints their paths.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image, ImageDraw

from store import Store
from tests.browser.conftest import World, artifacts_dir, log_in, viewer_pages
from tests.browser.pixels import compare, diff_image
from tests.browser.screenshot_world import FROZEN_NOW, SALES_EMAIL, screenshot_world
from web.timezone import TZ_COOKIE

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

BASELINES = Path(__file__).parent / "screenshots"
WIDTHS = (1400, 390)
#: The pages whose look depends on the role, shot for the salesperson too (file names start with ``sales-``):
#: the dashboard (no outcome chart, no failures) and a list (the team's mail, no admin links in the header).
SALES_PAGES = ("dashboard", "messages")
UPDATE_HINT = "UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_screenshots.py"


def updating() -> bool:
    """``UPDATE_SCREENSHOTS=1``: write baselines that are missing or no longer match, instead of failing. Never in
    CI (``CI`` set), where a missing or changed baseline must fail."""
    return os.environ.get("UPDATE_SCREENSHOTS") == "1" and not os.environ.get("CI")


@pytest.fixture
def world(browser_store: Store) -> World:
    return screenshot_world(browser_store)


@pytest.fixture
def app_clock() -> Callable[[], datetime]:
    return lambda: FROZEN_NOW


@pytest.fixture
def context_options() -> dict[str, Any]:
    return {"timezone_id": "UTC", "locale": "en-US", "device_scale_factor": 1, "reduced_motion": "reduce"}


def check(page: Page, name: str) -> str | None:
    """Shoot the page full-length and compare it with its baseline ``name``.png: ``None`` when it matches (or was
    written, when updating), else what is wrong and where the shot and the diff were left."""
    page.evaluate("document.fonts.ready")
    shot = page.screenshot(full_page=True, animations="disabled", caret="hide", scale="css")
    actual = Image.open(BytesIO(shot))
    baseline = BASELINES / f"{name}.png"
    found = Image.open(baseline) if baseline.exists() else None
    comparison = compare(actual, found) if found is not None else None
    if comparison is not None and comparison.matches:
        return None  # kept as it is even when updating: no churn from noise within the tolerance
    if updating():
        BASELINES.mkdir(exist_ok=True)
        actual.save(baseline, optimize=True)
        print(f"wrote {baseline}")
        return None
    out = artifacts_dir() / "screenshots"
    out.mkdir(exist_ok=True)
    actual.save(out / f"{name}-actual.png")
    if found is None or comparison is None:
        return f"{name}: no baseline at {baseline}; shot left at {out / name}-actual.png; create it with {UPDATE_HINT}"
    diff_image(actual, found).save(out / f"{name}-diff.png")
    return f"{name}: {comparison.describe()}; see {out / name}-actual.png and {out / name}-diff.png"


def shoot(page: Page, pages: dict[str, str], prefix: str, width: int) -> list[str]:
    """Visit each page at ``width`` and check it; the failures.

    The browser's zone cookie is set first, as ``static/keys.js`` sets it on the first page it runs on: otherwise
    that first page alone would say its times are in the default zone rather than the browser's."""
    page.context.add_cookies([{"name": TZ_COOKIE, "value": "UTC", "url": page.url}])
    failures = []
    for name, path in pages.items():
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        failure = check(page, f"{prefix}{name}-{width}")
        if failure:
            failures.append(failure)
    return failures


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_matches_its_baseline(page: Page, world: World, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme="light")
    response = page.goto("/login")
    assert response is not None and response.status == 200
    failures = [f for f in [check(page, f"login-{width}")] if f]
    log_in(page)
    failures += shoot(page, viewer_pages(world), "", width)
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_salesperson_pages_match_their_baselines(page: Page, world: World, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme="light")
    log_in(page, SALES_EMAIL)
    pages = {name: path for name, path in viewer_pages(world).items() if name in SALES_PAGES}
    failures = shoot(page, pages, "sales-", width)
    assert failures == [], "\n".join(failures)


# --- the comparison can fail ----------------------------------------------------------------------------------


def _page_like(size: tuple[int, int] = (1000, 200)) -> Image.Image:
    image = Image.new("RGB", size, (250, 250, 250))
    ImageDraw.Draw(image).rectangle((10, 10, 120, 30), fill=(30, 60, 120))
    return image


def test_an_identical_image_matches() -> None:
    result = compare(_page_like(), _page_like())
    assert result.matches and result.changed == 0


def test_noise_under_the_threshold_matches() -> None:
    noisy = _page_like().point(lambda v: min(255, v + 10))
    assert compare(noisy, _page_like()).matches


def test_a_changed_area_beyond_the_tolerance_fails() -> None:
    changed = _page_like()
    ImageDraw.Draw(changed).rectangle((150, 50, 154, 53), fill=(200, 0, 0))  # 20 of 200,000 pixels: 0.01 %
    assert compare(changed, _page_like()).matches
    ImageDraw.Draw(changed).point((0, 0), fill=(0, 0, 0))  # one more: past it
    result = compare(changed, _page_like())
    assert result.changed == 21 and not result.matches
    assert "21 of 200000 pixels changed" in result.describe()
    diff = diff_image(changed, _page_like())
    assert diff.getpixel((152, 52)) == (255, 0, 64) and diff.getpixel((100, 90)) != (255, 0, 64)


def test_a_size_off_by_more_than_a_few_pixels_fails() -> None:
    assert compare(_page_like((1000, 204)), _page_like()).size_ok
    taller = compare(_page_like((1000, 210)), _page_like())
    assert not taller.size_ok and not taller.matches
    assert taller.changed == 1000 * 10  # the rows only one image has count as changed


def test_a_word_changed_on_a_page_is_a_mismatch(page: Page, world: World) -> None:
    """The tolerance is for noise, not for a page that reads differently: one word of a heading is caught."""
    page.set_viewport_size({"width": 1400, "height": 900})
    log_in(page)
    page.goto("/")
    before = Image.open(BytesIO(page.screenshot(full_page=True, animations="disabled", caret="hide")))
    page.get_by_role("heading", name="Mail per day").evaluate("h => { h.textContent = 'Mail by day'; }")
    after = Image.open(BytesIO(page.screenshot(full_page=True, animations="disabled", caret="hide")))
    result = compare(after, before)
    assert not result.matches, result.describe()
    assert compare(before, before).matches
