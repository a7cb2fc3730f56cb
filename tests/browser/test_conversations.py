"""A client's timeline as conversations in a real browser: a reply joins its original, the filter form puts its
values in the URL and keeps them, the pager carries them, and the filtered page passes axe-core."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

import web.directory_pages
from store import LinkWrite, MessageWrite, ParticipantWrite, Store
from tests.browser.conftest import EMAIL, SEARCH_SUBJECT, SEARCH_WORD, World, _file, log_in
from tests.browser.test_accessibility import FAILING, _describe, _violations

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

PIOTR = "piotr@acme-logistics.pl"
TIMELINE_LIMIT = 20
REPLY_TEXT = "Thank you,   the   offer\n\nlooks good."


def _reply(store: Store, world: World) -> int:
    """Piotr's answer to the offer, redirected to the assistant by Anna's mailbox rule, with a PDF."""
    anna = store.directory.find_users_by_addresses([EMAIL])[EMAIL].id
    key = "<reply@acme>"
    _, message_id = _file(
        store,
        key,
        MessageWrite(
            dedupe_key=key,
            message_id_header=key,
            subject=f"RE: {SEARCH_SUBJECT}",
            date=datetime(2026, 3, 20, 8, 0, tzinfo=UTC),
            from_name="Piotr Wiśniewski",
            from_address=PIOTR,
            direction="incoming",
            kind="redirect",
            submitter_user_id=anna,
            body_text=REPLY_TEXT,
            body_html=None,
            note=None,
            raw_sha256="0" * 64,
            participants=(
                ParticipantWrite("from", PIOTR, "Piotr Wiśniewski", False, "contact", world.contact, "address"),
                ParticipantWrite("to", EMAIL, "Anna Nowak", True, None, None, None),
            ),
            links=(
                LinkWrite("user", "submitter", entity_id=anna),
                LinkWrite("contact", "address", entity_id=world.contact),
                LinkWrite("client", "thread", entity_id=world.client, from_message_id=world.offer),
            ),
        ),
    )
    return message_id


def test_a_reply_joins_its_offer_and_the_filters_live_in_the_url(
    page: Page, base_url: str, world: World, browser_store: Store
) -> None:
    from playwright.sync_api import expect

    reply = _reply(browser_store, world)
    log_in(page)
    page.goto(f"/clients/{world.client}")
    timeline = page.get_by_role("region", name="Timeline")

    # The newest conversation is the offer with its reply: two messages, oldest first, each with its direction in
    # words for screen readers, who filed it, and a snippet.
    first = timeline.locator("li.conversation").first
    expect(first.get_by_role("heading", level=3)).to_have_text(SEARCH_SUBJECT)
    expect(first).to_contain_text("2 messages")
    links = first.locator("li.msg").get_by_role("link")
    expect(links).to_have_count(2)
    expect(links.nth(0)).to_have_attribute("href", f"/messages/{world.offer}")
    expect(links.nth(1)).to_have_attribute("href", f"/messages/{reply}")
    expect(first.locator("li.msg").nth(1)).to_contain_text("Thank you, the offer looks good.")
    expect(first.locator("li.msg").nth(0)).to_contain_text(SEARCH_WORD)
    expect(first.locator("li.msg").nth(1).locator(".sr").first).to_have_text("incoming")
    expect(first.locator("li.msg").nth(1)).to_contain_text("filed by Anna Nowak")

    # When Anna filters by kind and person with the form, the values go into the URL and stay in the form.
    page.get_by_label("Kind").select_option("redirect")
    page.get_by_label("Person (address)").fill(PIOTR)
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?kind=redirect&direction=&person=piotr%40acme-logistics\.pl"))
    expect(page.get_by_label("Kind")).to_have_value("redirect")
    expect(page.get_by_label("Person (address)")).to_have_value(PIOTR)
    conversations = page.get_by_role("region", name="Timeline").locator("li.conversation")
    expect(conversations).to_have_count(1)
    expect(conversations.first.get_by_role("link")).to_have_attribute("href", f"/messages/{reply}")

    # The filtered page passes axe-core too.
    failing = [v for v in _violations(page) if v["impact"] in FAILING]
    assert failing == [], _describe(failing)

    # When she clears the filters, the form is empty again.
    page.get_by_role("link", name="Clear filters").click()
    expect(page).to_have_url(f"{base_url}/clients/{world.client}")
    expect(page.get_by_label("Person (address)")).to_have_value("")


def test_the_pager_keeps_the_filters(page: Page, base_url: str, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect

    # Pages of 20 conversations: the offer and the hostile mail make two (the server runs in this process).
    monkeypatch.setattr(web.directory_pages, "TIMELINE_LIMIT", TIMELINE_LIMIT)
    log_in(page)
    page.goto(f"/clients/{world.client}")
    # When Anna asks for bcc mail alone, every conversation of the offer and the hostile mail is listed, a page of
    # them at a time, and the pager keeps the filter.
    page.get_by_label("Kind").select_option("bcc")
    page.get_by_role("button", name="Filter", exact=True).click()
    listed = page.get_by_role("region", name="Timeline").locator("li.conversation")
    expect(listed).to_have_count(TIMELINE_LIMIT)
    page.get_by_role("link", name="Older →").click()
    expect(page).to_have_url(re.compile(r"\?kind=bcc&after="))
    expect(page.get_by_label("Kind")).to_have_value("bcc")
    expect(listed).to_have_count(len(world.hostile) + 1 - TIMELINE_LIMIT)
    expect(page.get_by_role("link", name="← Newest")).to_have_attribute("href", f"/clients/{world.client}?kind=bcc")


def test_a_bad_filter_is_the_400_page(page: Page, world: World) -> None:
    from playwright.sync_api import expect

    log_in(page)
    response = page.goto(f"/clients/{world.client}?direction=sideways")
    assert response is not None and response.status == 400
    expect(page.locator("main")).to_contain_text("direction: must be one of incoming, outgoing")
