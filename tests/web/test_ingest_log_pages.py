"""The ingest log page a keyset page at a time: "Older" and "Newest" links that keep the status, reason and page
size, every receipt once across the pages, and a cursor the log did not hand out answered 400."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from store import Store
from tests.store.world import ADA, World
from web import ingest_pages

ClientFor = Callable[[str | None], TestClient]
_NEXT = re.compile(r'<a rel="next" href="([^"]+)">Older →</a>')
_FIRST = re.compile(r'<a href="([^"]+)">← Newest</a>')
_RECEIPT = re.compile(r'<a href="/inbound/([0-9A-Za-z]+)"><code>')


def _ignore(store: Store, count: int) -> list[str]:
    ids = []
    for i in range(count):
        receipt = store.receipts.add_inbound(
            f"Subject: news {i}\r\nList-Id: <n.example.org>\r\n\r\nbody\r\n".encode(),
            mail_from="news@lists.example.org",
            rcpt_tos=["assistant@crm.example.com"],
        )
        assert store.receipts.mark_processed(receipt.id, "ignored", reason="List-Id header: a mailing list")
        ids.append(receipt.id)
    return ids


def test_older_links_walk_the_whole_log_once_and_newest_leads_back(
    store: Store, world: World, client_for: ClientFor
) -> None:
    ada = client_for(ADA.email)
    everything = _RECEIPT.findall(ada.get("/inbound").text)
    assert len(everything) > 3
    # When Ada reads the log three at a time
    seen: list[str] = []
    page = ada.get("/inbound?limit=3")
    assert _FIRST.search(page.text) is None  # the first page has no "Newest" link
    while (found := _NEXT.search(page.text)) is not None:
        seen += _RECEIPT.findall(page.text)
        next_url = html.unescape(found.group(1))
        assert parse_qs(urlsplit(next_url).query)["limit"] == ["3"]
        page = ada.get(next_url)
        assert page.status_code == 200
        first = _FIRST.search(page.text)
        assert first is not None and html.unescape(first.group(1)) == "/inbound?limit=3"
    seen += _RECEIPT.findall(page.text)
    # Then she saw every receipt once, in the order of the whole log
    assert seen == everything


def test_the_pages_keep_status_and_reason(store: Store, world: World, client_for: ClientFor) -> None:
    ids = _ignore(store, 3)
    ada = client_for(ADA.email)
    page = ada.get("/inbound?status=ignored&reason=list-id&limit=2")
    found = _NEXT.search(page.text)
    assert found is not None
    query = parse_qs(urlsplit(html.unescape(found.group(1))).query)
    assert query["status"] == ["ignored"] and query["reason"] == ["list-id"] and query["limit"] == ["2"]
    rest = ada.get(html.unescape(found.group(1))).text
    assert _RECEIPT.findall(page.text) + _RECEIPT.findall(rest) == list(reversed(ids))
    assert _NEXT.search(rest) is None
    first = _FIRST.search(rest)
    assert first is not None and html.unescape(first.group(1)) == "/inbound?status=ignored&reason=list-id&limit=2"
    # The status tabs and the reason's "Any reason" link start from the first page again
    assert "after=" not in rest.split("<table")[0]


def test_a_cursor_the_log_did_not_hand_out_is_a_400(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    response = ada.get("/inbound?after=not-a-cursor")
    assert response.status_code == 400
    assert "after: bad cursor" in response.text


def test_status_tabs_stop_counting_past_the_cap(
    store: Store, world: World, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_pages, "TAB_COUNT_CAP", 2)
    _ignore(store, 3)
    counts = store.receipts.count_inbound_by_status()
    assert counts["ignored"] == 3 and counts["failed"] <= 2
    tabs = client_for(ADA.email).get("/inbound").text.split('<nav class="tabs"')[1].split("</nav>")[0]
    assert ">ignored (2+)</a>" in tabs and ">all (2+)</a>" in tabs
    assert f">failed ({counts['failed']})</a>" in tabs


def test_tab_counts_read_as_numbers() -> None:
    assert ingest_pages.tab_count(1234) == "1,234"
    assert ingest_pages.tab_count(ingest_pages.TAB_COUNT_CAP + 1) == "10,000+"
    # "all" sums the capped counts: one status past the cap puts it past the cap too
    assert ingest_pages.tab_count(ingest_pages.TAB_COUNT_CAP + 1 + 0 + 0 + 0) == "10,000+"
