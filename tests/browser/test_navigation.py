"""A person's way through the viewer in a real browser: log in, search, open a message, follow it to its client's
timeline, log out; and the search box reached and submitted with the keyboard alone."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import CLIENT, EMAIL, PASSWORD, SEARCH_SUBJECT, SEARCH_WORD, Traffic, World, log_in

if TYPE_CHECKING:  # imported at run time only once the ``playwright`` fixture has skipped when it is missing
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_log_in_search_open_message_and_follow_it_to_the_client_timeline(
    page: Page, base_url: str, world: World, traffic: Traffic
) -> None:
    from playwright.sync_api import expect

    # Given a private page asked for before logging in, the viewer sends the browser to the login form.
    page.goto("/messages")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fmessages$"))

    # When Anna logs in with the form, she lands on the page she asked for, and can go to the dashboard.
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/messages")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url(f"{base_url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    # When she searches the messages for a word of one email's body.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    expect(page).to_have_url(f"{base_url}/messages")
    page.get_by_role("searchbox", name="Search").fill(SEARCH_WORD)
    page.get_by_role("button", name="Search", exact=True).click()

    # Then that email alone is listed, with its client as a chip.
    expect(page).to_have_url(re.compile(rf"/messages\?(.*&)?q={SEARCH_WORD}(&|$)"))
    rows = page.locator("table.messages tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator(f'a[href="/clients/{world.client}"]')).to_contain_text(CLIENT)

    # When she opens it, its page shows the subject and what it is linked to.
    rows.get_by_role("link", name=SEARCH_SUBJECT).click()
    expect(page).to_have_url(f"{base_url}/messages/{world.offer}")
    expect(page.get_by_role("heading", level=1)).to_have_text(SEARCH_SUBJECT)
    expect(page.get_by_text(SEARCH_WORD)).to_be_visible()

    # When she follows the client chip, the client's timeline lists the email.
    page.locator(f'a[href="/clients/{world.client}"]').first.click()
    expect(page).to_have_url(f"{base_url}/clients/{world.client}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(CLIENT)
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.get_by_role("link", name=SEARCH_SUBJECT)).to_have_attribute("href", f"/messages/{world.offer}")

    # When she logs out, the session is gone: private pages send her back to the login form.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{base_url}/login")
    page.goto(f"/clients/{world.client}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    assert not traffic.dialogs
    assert not traffic.foreign()


def test_tab_from_the_top_reaches_the_search_box_and_enter_submits(page: Page, base_url: str, world: World) -> None:
    from playwright.sync_api import expect

    log_in(page)
    page.goto("/messages")
    search = page.get_by_role("searchbox", name="Search")

    # Given nothing focused, Tab walks the page in order until it reaches the search box (a handful of stops).
    presses = 0
    while not search.evaluate("el => el === document.activeElement"):
        assert presses < 12, "12 presses of Tab from the top of the page did not reach the search box"
        page.keyboard.press("Tab")
        presses += 1

    # When she types and presses Enter, the form is submitted.
    page.keyboard.type(SEARCH_WORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/messages\?(.*&)?q={SEARCH_WORD}(&|$)"))
    expect(page.locator("table.messages tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name=SEARCH_SUBJECT)).to_be_visible()


def test_j_and_k_move_through_a_list_and_enter_opens_the_row(page: Page, world: World) -> None:
    from playwright.sync_api import expect

    log_in(page)
    page.goto("/messages")
    rows = page.locator("table.list tbody tr")
    assert rows.count() >= 3
    # j selects the first row, j again the second, k back to the first: its first link has the focus
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    expect(rows.nth(1)).not_to_have_class(re.compile(r"\bselected\b"))
    first_link = rows.nth(0).locator("a[href]").first
    expect(first_link).to_be_focused()
    href = first_link.get_attribute("href")
    # and Enter opens it
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(href or "") + "$"))
    # Typed into the search box, j is a letter, not a move
    page.goto("/messages")
    search = page.get_by_role("searchbox").first
    search.focus()
    page.keyboard.press("j")
    expect(search).to_have_value("j")
    assert page.locator("table.list tbody tr.selected").count() == 0
