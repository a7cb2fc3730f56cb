"""At a phone's width (390 px) no page is wider than the window: the header wraps, list rows stack, and long
addresses, hashes and headers break instead of making the reader scroll sideways."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import World, log_in, viewer_pages

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its window (0 when it fits)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_no_page_is_wider_than_a_phone(page: Page, world: World) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/login")
    wide = {"/login": overflow(page)}
    log_in(page)
    for path in viewer_pages(world).values():
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        wide[path] = overflow(page)
    assert {path: px for path, px in wide.items() if px > 0} == {}, f"wider than {PHONE['width']} px, by px"
