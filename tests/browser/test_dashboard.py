"""The dashboard in a real browser: its per-day charts are drawn (inline SVG, coloured through the stylesheet's
classes) with no console error and no CSP violation, and a bar names its day and count."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Traffic, World, log_in
from tests.browser.test_index_pages import _errors

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_the_dashboard_draws_its_charts_without_csp_violations(page: Page, world: World, traffic: Traffic) -> None:
    from playwright.sync_api import expect

    errors = _errors(page)
    log_in(page)
    page.goto("/")
    chart = page.get_by_role("img", name="Messages filed, by kind")
    expect(chart).to_be_visible()
    bars = chart.locator("rect.s-bcc")
    expect(bars).to_have_count(1)  # everything seeded was filed today, as bcc
    assert float(bars.first.get_attribute("height") or 0) > 0
    expect(bars.first.locator("title")).to_contain_text(f"{len(world.hostile) + 1} bcc")
    # The colour comes from the stylesheet (a class), not from a style attribute the CSP would block
    assert bars.first.evaluate("el => getComputedStyle(el).fill") not in ("", "none", "rgb(0, 0, 0)")
    expect(page.get_by_role("img", name="Receipts, by outcome")).to_be_visible()
    expect(page.get_by_role("heading", name="Queue health")).to_be_visible()
    assert errors == []
    assert traffic.foreign() == []
