"""The browser's own time zone: a Chromium set to Asia/Tokyo sees the viewer's times in JST (+09:00) once its first
page has loaded, with the footer saying where the zone came from; the account's zone, when set, comes first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from store import Store
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, EMAIL, TIMEOUT_MS, World, log_in

if TYPE_CHECKING:  # imported at run time only once the ``playwright`` fixture has skipped when it is missing
    from playwright.sync_api import Page, Playwright

pytestmark = pytest.mark.browser


@pytest.fixture
def tokyo_page(playwright: Playwright, base_url: str, tmp_path: Path) -> Iterator[Page]:
    """A page of a fresh Chromium profile whose time zone is Asia/Tokyo (the test server's clock is not)."""
    ctx = playwright.chromium.launch_persistent_context(
        str(tmp_path / "tokyo-profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        base_url=base_url,
        timezone_id="Asia/Tokyo",
        service_workers="block",
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith(base_url + "/") else route.abort()
    )
    try:
        yield ctx.pages[0] if ctx.pages else ctx.new_page()
    finally:
        ctx.close()


def test_a_browser_in_tokyo_sees_times_in_jst_after_load(tokyo_page: Page, world: World, browser_store: Store) -> None:
    from playwright.sync_api import expect

    page = tokyo_page
    # Given Anna logs in for the first time in this browser: the page she lands on was rendered before the viewer
    # knew her zone, and reloads itself once the script has set the cookie
    log_in(page)
    expect(page.locator("footer.site")).to_have_text("Times in Asia/Tokyo (your browser)")
    # Then every page shows times in that zone, and says why
    page.goto(f"/messages/{world.offer}")
    expect(page.locator("footer.site")).to_have_text("Times in Asia/Tokyo (your browser)")
    date = page.locator("dl time").first
    expect(date).to_contain_text("JST")
    assert (date.get_attribute("datetime") or "").endswith("+09:00")
    expect(page.locator("time .tz", has_text="UTC")).to_have_count(0)
    assert page.evaluate("document.cookie").find("tz=Asia/Tokyo") != -1

    # When the account names a zone of its own, it comes first, whatever the browser says
    assert browser_store.auth.set_time_zone(EMAIL, "Europe/Warsaw")
    page.reload()
    expect(page.locator("footer.site")).to_have_text("Times in Europe/Warsaw (your account)")
    expect(page.locator("dl time").first).to_contain_text("CET")
