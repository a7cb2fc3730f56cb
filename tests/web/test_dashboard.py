"""The dashboard's panels: mail per day as inline SVG (classes, no style attribute), top unresolved codes linking
to their mail, newest leads, and for role ``all`` only: receipts by outcome, SMTP refusals and queue health."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update
from starlette.testclient import TestClient

from store import Store
from store.models import Inbound
from tests.store.test_dashboard_days import filed_at
from tests.store.world import ADA, ANNA, JAN, World
from tests.web.conftest import log_in
from tests.web.pages_support import assert_page, listed_ids
from web.app import create_app
from web.charts import HEIGHT, LABEL_ROOM, stacked_bars

ClientFor = Callable[[str | None], TestClient]
_RECT = re.compile(r'<rect class="s-(\w+)"[^>]*><title>(\d{4}-\d\d-\d\d): (\d+) (\w+)</title>')


def test_stacked_bars_scale_to_the_busiest_day_and_stack_in_order() -> None:
    days = (date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3))
    chart = stacked_bars(days, {"bcc": [2, 0, 1], "forward": [2, 0, 0]})
    plot = HEIGHT - LABEL_ROOM
    assert (chart.peak, chart.total) == (4, 5)
    first = [b for b in chart.bars if b.day == days[0]]
    assert [(b.series, b.height) for b in first] == [("bcc", plot / 2), ("forward", plot / 2)]
    assert first[1].y + first[1].height == first[0].y  # forward sits on bcc
    assert [b for b in chart.bars if b.day == days[1]] == []  # a day without mail draws nothing
    assert stacked_bars(days, {"bcc": [0, 0, 0]}).bars == ()


def test_the_dashboard_draws_mail_per_day_and_lists_codes_and_leads(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email).get("/")
    assert ada.status_code == 200
    assert_page(ada.text)
    bars = _RECT.findall(ada.text)
    # build_world filed its mail today: today's bar holds every kind filed, and the receipts by outcome
    filed = {series: int(n) for cls, day, n, series in bars if cls in ("bcc", "forward", "redirect")}
    assert sum(filed.values()) == 9 and set(filed) == {"bcc", "forward", "redirect"}
    assert {cls for cls, *_ in bars} >= {"linked"}
    assert '<a href="/messages?code=XX-9">XX-9</a>' in ada.text
    assert f'<a href="/leads/{world.lead}">' in ada.text
    assert "Queue health" in ada.text and "SMTP refusals, last 7 days" in ada.text
    assert "keeping up" in ada.text


def test_outcomes_refusals_and_queue_are_for_role_all_only(world: World, client_for: ClientFor) -> None:
    anna = client_for(ANNA.email).get("/")
    assert "Receipts, by outcome" not in anna.text and "Queue health" not in anna.text
    assert "SMTP refusals" not in anna.text
    assert "XX-9" not in anna.text  # Jan's forward, which Anna may not see
    jan = client_for(JAN.email)
    assert listed_ids(jan.get("/messages?code=XX-9").text) == [world.m["beta"]]
    assert '<a href="/messages?code=XX-9">XX-9</a>' in jan.get("/").text


def test_a_stale_queued_receipt_shows_the_sweeper_is_not_keeping_up(
    store: Store, world: World, client_for: ClientFor
) -> None:
    receipt = store.receipts.add_inbound(
        b"Subject: waiting\r\n\r\nx", mail_from="a@example.com", rcpt_tos=["b@example.com"]
    )
    with store.engine.begin() as conn:
        old = datetime.now(UTC) - timedelta(hours=1)
        conn.execute(update(Inbound).where(Inbound.id == receipt.id).values(updated_at=old))
    page = client_for(ADA.email).get("/").text
    assert "1 queued untouched for 15 minutes" in page


def test_the_dashboard_counts_back_from_the_clock_the_app_is_given(store: Store, world: World) -> None:
    """``create_app(clock=...)`` is the dashboard's "now": three days on, today's mail is drawn three days before the
    chart's last day; forty days on, it is out of the chart (the screenshot tests freeze the dashboard this way)."""
    today = datetime.now(UTC)
    pages = {}
    for days in (3, 40):
        later = today + timedelta(days=days)
        app = create_app(store, secret_key="k" * 48, clock=lambda later=later: later)
        with TestClient(app, follow_redirects=False) as client:
            log_in(client, ADA.email)
            pages[days] = client.get("/").text
    assert {day for _, day, _, _ in _RECT.findall(pages[3])} == {str(today.date())}
    assert str((today + timedelta(days=3)).date()) in pages[3]
    assert _RECT.findall(pages[40]) == []


def test_the_chart_counts_the_viewers_days_and_says_whose(store: Store, world: World) -> None:
    """A message filed at 23:30 UTC is on that day for a viewer in UTC and on the next for one in Warsaw (the
    account's zone, as every date on the page); the axis and the chart's label name the zone."""
    filed_at(store, world, datetime(2026, 3, 4, 23, 30, tzinfo=UTC))
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    app = create_app(store, secret_key="k" * 48, clock=lambda: now)
    with TestClient(app, follow_redirects=False) as client:
        log_in(client, ADA.email)
        utc = client.get("/").text
        assert store.auth.set_time_zone(ADA.email, "Europe/Warsaw")
        warsaw = client.get("/").text
        client.cookies.set("tz", "Asia/Tokyo")
        assert store.auth.set_time_zone(ADA.email, None)
        tokyo = client.get("/").text
    assert_page(warsaw)
    assert {(cls, day) for cls, day, _, _ in _RECT.findall(utc)} == {("bcc", "2026-03-04"), ("linked", "2026-03-04")}
    assert {day for _, day, _, _ in _RECT.findall(warsaw)} == {"2026-03-05"}
    assert {day for _, day, _, _ in _RECT.findall(tokyo)} == {"2026-03-05"}
    assert utc.count(">days in UTC</text>") == 2 and warsaw.count(">days in Europe/Warsaw</text>") == 2
    assert "of the last 14 days (days in Europe/Warsaw)" in warsaw and ">days in Asia/Tokyo</text>" in tokyo
