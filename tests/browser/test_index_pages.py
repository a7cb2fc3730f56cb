"""The directory indexes and the ingest log in a real browser: each opens with no console error and no CSP
violation (Chromium reports a blocked inline style or script as a console error), and the check itself catches one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Traffic, World, log_in

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page

pytestmark = pytest.mark.browser

PAGES = [
    "/clients",
    "/clients?sort=count",
    "/clients?sort=last&q=acme",
    "/contacts",
    "/contacts?sort=count",
    "/leads",
    "/leads?sort=last",
    "/records",
    "/users",
    "/users?sort=count",
    "/inbound",
]


def _errors(page: Page) -> list[str]:
    seen: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            seen.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: seen.append(f"pageerror: {exc}"))
    return seen


def test_each_index_page_opens_without_console_errors_or_csp_violations(
    page: Page, world: World, traffic: Traffic
) -> None:
    from playwright.sync_api import expect

    errors = _errors(page)
    log_in(page)
    for path in PAGES:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.locator("table.list")).to_be_visible()
        assert errors == [], f"{path}: {errors}"
    # A receipt page, opened from the log
    page.goto("/inbound")
    page.locator("table.inbound tbody a[href^='/inbound/']").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Receipt")
    expect(page.get_by_text("SHA-256")).to_be_visible()
    assert errors == []
    assert traffic.foreign() == []


def test_the_check_catches_a_csp_violation(page: Page, base_url: str, world: World) -> None:
    # Given a page on the test server's origin, under the viewer's CSP, with an inline style and script
    from web.headers import DEFAULT_CSP

    errors = _errors(page)
    page.route(
        f"{base_url}/csp-probe",
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            headers={"Content-Security-Policy": DEFAULT_CSP},
            body="<p style='color:red'>x</p><script>1</script>",
        ),
    )
    page.goto("/csp-probe")
    page.wait_for_timeout(200)
    # Then the listener the index test relies on has seen the violations
    assert any("Content Security Policy" in e for e in errors), errors
