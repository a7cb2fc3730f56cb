"""The message page in a real browser: emails carrying the hostile HTML corpus, one fixture each, run no script, open
no dialog, fetch nothing from a remote host and say how much they blocked; and a screenshot of the page for review."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pytest

from store.safehtml import sanitize_email_html
from tests.browser.conftest import (
    HOSTILE_SUBJECT,
    SIDE_EFFECTS_NAME,
    Traffic,
    World,
    artifacts_dir,
    hostile_bodies,
    log_in,
)

if TYPE_CHECKING:  # imported at run time only once the ``playwright`` fixture has skipped when it is missing
    from playwright.sync_api import Frame, Page

pytestmark = pytest.mark.browser

#: Milliseconds to leave a script the chance to run (timers, meta refresh, onload) before asserting it did not.
SETTLE_MS = 250
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The hostile fixture whose message page the screenshot shows.
SCREENSHOT_OF = "tracking_pixels_many"

#: Elements that must not survive sanitizing: they run script, fetch, navigate, submit or embed.
DANGEROUS_ELEMENTS = (
    "script, iframe, frame, frameset, object, embed, applet, svg, math, form, input, button, textarea, select, "
    "meta, link, base, style, template, noscript, video, audio, source, track, bgsound, keygen, isindex, xmp, "
    "plaintext, marquee"
)
#: In the email frame's body: what is left that could run or fetch, one string per finding (JS, run in the page).
FIND_DANGER_JS = """(selector) => {
    const found = [];
    for (const el of document.body.querySelectorAll(selector)) found.push("element " + el.outerHTML.slice(0, 80));
    for (const el of document.body.querySelectorAll("*")) {
        for (const a of el.attributes) {
            const v = a.value.trim().toLowerCase();
            if (a.name.startsWith("on")) found.push("handler " + a.name + " on " + el.tagName);
            if (/^(javascript|vbscript|data:text)/.test(v.replace(/[\\s\\x00-\\x20]/g, "")))
                found.push("script URL " + a.name + "=" + v.slice(0, 60));
            if (["src", "srcset", "background", "poster", "data", "action", "formaction"].includes(a.name)
                && /^(https?:)?\\/\\//.test(v)) found.push("remote " + a.name + "=" + v.slice(0, 60));
            if (a.name === "style" && /url\\(\\s*['"]?\\s*(https?:)?\\/\\//.test(v))
                found.push("remote CSS on " + el.tagName);
        }
    }
    return found;
}"""


def email_frame(page: Page, base_url: str, message_id: int) -> Frame | None:
    """The iframe showing the message's sanitized HTML body; None when it is not there (it navigated away)."""
    url = f"{base_url}/messages/{message_id}/html"
    return next((f for f in page.frames if f.url == url), None)


def check_message(page: Page, base_url: str, message_id: int, html: str) -> list[str]:
    """Open one hostile message's page; what went wrong on it, one string per finding."""
    expected = sanitize_email_html(html, cid_url=lambda _cid: None)
    page.goto(f"/messages/{message_id}", wait_until="load")
    page.wait_for_timeout(SETTLE_MS)
    problems: list[str] = []
    if page.evaluate("window.name"):
        problems.append(f"the page's window.name was set to {page.evaluate('window.name')!r}")
    if page.locator("main script").count():
        problems.append("a script element in the page")

    # The body is in an iframe sandboxed without scripts, loaded from its own route.
    iframe = page.locator("iframe.email")
    if iframe.get_attribute("src") != f"/messages/{message_id}/html":
        problems.append(f"iframe src is {iframe.get_attribute('src')!r}")
    sandbox = iframe.get_attribute("sandbox")
    if sandbox is None or "allow-scripts" in sandbox or "allow-same-origin" in sandbox:
        problems.append(f"iframe sandbox is {sandbox!r}")

    # Inside the frame nothing ran (a script would have set the name or the title), and nothing is left that could.
    frame = email_frame(page, base_url, message_id)
    if frame is None:
        return [*problems, f"no frame shows the email; the page's frames are {[f.url for f in page.frames]}"]
    if (marks := frame.evaluate("[window.name, document.title]")) != ["", ""]:
        problems.append(f"the frame's window.name and title are {marks}")
    problems += frame.evaluate(FIND_DANGER_JS, DANGEROUS_ELEMENTS)

    # The page says how many remote resources it blocked, and from where.
    notice = page.locator("p.blocked").inner_text()
    n = expected.blocked
    wanted = f"{n} remote resource{'s' if n != 1 else ''} blocked" if n else "No remote resources."
    if wanted not in notice or not all(host in notice for host in expected.blocked_hosts):
        problems.append(f"notice {notice!r}, expected {wanted!r} naming {expected.blocked_hosts}")
    return problems


def test_hostile_html_runs_no_script_and_fetches_nothing_remote(
    page: Page, base_url: str, world: World, traffic: Traffic
) -> None:
    from playwright.sync_api import expect

    # Given Anna is logged in, when she opens each message whose HTML body is one piece of the hostile corpus.
    log_in(page)
    bodies = hostile_bodies()
    problems = {name: check_message(page, base_url, world.hostile[name], html) for name, html in bodies.items()}

    # Then on no page did anything run, remain that could run or fetch, or go uncounted; no dialog opened; and no
    # request left for a host other than the test server, not one of the pixels. (One assert shows all three.)
    found = {name: found for name, found in problems.items() if found}
    assert {"pages": found, "dialogs": traffic.dialogs, "remote requests": traffic.foreign()} == {
        "pages": {},
        "dialogs": [],
        "remote requests": [],
    }
    frames_loaded = {f"{base_url}/messages/{i}/html" for i in world.hostile.values()}
    assert frames_loaded <= set(traffic.requests)  # the recorder did see every frame load

    # And the message with the hostile subject shows it as text, not markup, in the heading and the title.
    side_effects = sanitize_email_html(bodies[SIDE_EFFECTS_NAME], cid_url=lambda _cid: None)
    assert {"tracker.example", "evil.example"} <= set(side_effects.blocked_hosts)
    page.goto(f"/messages/{world.side_effects}", wait_until="load")
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE_SUBJECT)
    assert page.title() == f"{HOSTILE_SUBJECT} · mailassist"
    notice = page.locator("p.blocked")
    expect(notice).to_contain_text(f"{side_effects.blocked} remote resources blocked")
    expect(notice).to_contain_text("tracker.example")

    # And the email document carries its own CSP, without scripts, whoever opens it.
    csp = page.request.get(f"/messages/{world.side_effects}/html").headers["content-security-policy"]
    assert csp.startswith("default-src 'none'") and "script-src" not in csp


def test_screenshot_of_the_message_page_is_saved_as_an_artifact(page: Page, world: World) -> None:
    from playwright.sync_api import expect

    # The newsletter with many tracking pixels: the page to look at when reviewing how blocking is shown.
    log_in(page)
    page.goto(f"/messages/{world.hostile[SCREENSHOT_OF]}", wait_until="load")
    expect(page.locator("p.blocked")).to_contain_text("remote resources blocked")
    expect(page.frame_locator("iframe.email").get_by_text("Spring offers inside.")).to_be_visible()

    path = artifacts_dir() / "message-page.png"
    path.unlink(missing_ok=True)
    page.screenshot(path=path, full_page=True)

    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert width >= 1280 and height >= 600, f"{path} is only {width}x{height}"
    assert len(data) > 20_000, f"{path} is only {len(data)} bytes: an empty page?"
