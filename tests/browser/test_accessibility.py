"""Accessibility: axe-core (bundled by axe-playwright-python, nothing downloaded) over every page of the viewer in
Chromium, at desktop and phone widths. A serious or critical violation fails the test, with its rule and where."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import World, log_in, viewer_pages

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

#: axe-core's impact levels that fail the test (the others, "minor" and "moderate", are reported only).
FAILING = frozenset({"serious", "critical"})


def _violations(page: Page) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return list(results.response["violations"])


def _describe(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['impact']} {v['id']}: {v['help']} at "
        + "; ".join(f"{n['target']} {n.get('failureSummary', '')[:160]!r}" for n in v["nodes"][:3])
        for v in violations
    ]


@pytest.mark.parametrize(("width", "scheme"), [(1400, "light"), (390, "light"), (1400, "dark")])
def test_no_page_has_a_serious_accessibility_violation(page: Page, world: World, width: int, scheme: str) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    page.goto("/login")
    found = {"/login": [v for v in _violations(page) if v["impact"] in FAILING]}
    log_in(page)
    for path in viewer_pages(world).values():
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        found[path] = [v for v in _violations(page) if v["impact"] in FAILING]
    failures = {path: _describe(v) for path, v in found.items() if v}
    assert failures == {}, "\n".join(f"{p}: {d}" for p, ds in failures.items() for d in ds)


def test_the_check_finds_a_violation(page: Page, world: World) -> None:
    """An image without alternative text is a critical violation: the check is able to fail."""
    log_in(page)
    page.goto("/")
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/static/x.png\">')")
    assert "image-alt" in {v["id"] for v in _violations(page) if v["impact"] in FAILING}
