"""The viewer's time zone: the account's, else the browser's ``tz`` cookie, else UTC; only zone names count; pages
show times in it and say which and why; date filters on pages are days there, while the JSON API stays UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from store import MessageFilter, Store
from tests.store.world import ADA, World
from tests.web.pages_support import assert_page
from web.filters import parse_filter
from web.timezone import DEFAULT_ZONE, find_zone, local_time, rendering_in, resolve_zone

ClientFor = Callable[[str | None], TestClient]
TOKYO, WARSAW, HONOLULU = ZoneInfo("Asia/Tokyo"), ZoneInfo("Europe/Warsaw"), ZoneInfo("Pacific/Honolulu")


# --- resolving and checking zones --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Europe/Warsaw", "Asia/Tokyo", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT+5"])
def test_zone_names_of_the_zone_database_are_zones(name: str) -> None:
    assert find_zone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    "name",
    [None, "", "Mars/Olympus_Mons", "Europe", "../../etc/passwd", "/usr/share/zoneinfo/UTC", "europe/warsaw", "x" * 65],
)
def test_anything_else_is_no_zone(name: str | None) -> None:
    assert find_zone(name) is None


def test_the_account_zone_comes_first_then_the_cookie_then_utc() -> None:
    assert resolve_zone("Europe/Warsaw", "Asia/Tokyo") == resolve_zone("Europe/Warsaw", None)
    assert resolve_zone("Europe/Warsaw", "Asia/Tokyo").source == "account"
    browser = resolve_zone(None, "Asia/Tokyo")
    assert (browser.name, browser.zone, browser.why) == ("Asia/Tokyo", TOKYO, "your browser")
    assert resolve_zone(None, None) == DEFAULT_ZONE and DEFAULT_ZONE.why == "the default"
    # A cookie naming no zone is ignored, as is an account zone the zone database no longer has
    assert resolve_zone(None, "Asia/Atlantis") == DEFAULT_ZONE
    assert resolve_zone("Asia/Atlantis", "Asia/Tokyo").source == "browser"


def test_times_convert_only_while_a_page_renders_in_a_zone() -> None:
    noon = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with rendering_in(resolve_zone(None, "Asia/Tokyo")):
        shown = local_time(noon)
        assert (shown.isoformat(), shown.tzname()) == ("2026-07-01T21:00:00+09:00", "JST")
        assert local_time(datetime(2026, 7, 1, 12, 0)) == shown  # naive is UTC, as the store keeps it
    assert local_time(noon).tzinfo is UTC


# --- date filters --------------------------------------------------------------------------------------------------


def test_filter_days_are_days_in_the_viewers_zone() -> None:
    f = parse_filter({"from": "2026-03-02", "to": "2026-03-02"}, zone=WARSAW)
    assert f.date_from == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert f.date_to == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert f.date_from is not None and f.date_from.tzinfo is UTC
    # The day clocks go forward in Warsaw has 23 hours: "to" ends at the next local midnight
    dst = parse_filter({"from": "2026-03-29", "to": "2026-03-29"}, zone=WARSAW)
    assert (dst.date_from, dst.date_to) == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    )
    # A date-time without an offset is the zone's too; one with an offset keeps its own
    assert parse_filter({"from": "2026-03-02T10:30"}, zone=TOKYO).date_from == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    with_offset = parse_filter({"from": "2026-03-02T10:30:00+02:00"}, zone=TOKYO)
    assert with_offset == MessageFilter(date_from=datetime(2026, 3, 2, 8, 30, tzinfo=UTC))
    # Without a zone (the JSON API), days are UTC days as before
    assert parse_filter({"from": "2026-03-02"}).date_from == datetime(2026, 3, 2, tzinfo=UTC)


def test_filter_days_at_the_edges_of_the_range_convert_in_any_zone() -> None:
    kiritimati, samoa = ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")
    f = parse_filter({"from": "0001-01-02", "to": "9999-12-30"}, zone=kiritimati)
    assert f.date_from is not None and f.date_from.year == 1 and f.date_to is not None and f.date_to.year == 9999
    g = parse_filter({"from": "0001-01-02", "to": "9999-12-30"}, zone=samoa)
    assert g.date_to is not None and g.date_to.tzinfo is UTC


# --- pages ---------------------------------------------------------------------------------------------------------


def test_pages_show_times_in_the_cookies_zone_and_say_so(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    utc_page = ada.get(f"/messages/{world.m['deal']}").text
    assert '<span class="tz">UTC</span>' in utc_page and "Times in UTC (the default)" in utc_page
    ada.cookies.set("tz", "Asia/Tokyo")
    page = ada.get(f"/messages/{world.m['deal']}")
    assert_page(page.text)
    assert '<span class="tz">JST</span>' in page.text and '<span class="tz">UTC</span>' not in page.text
    assert "+09:00" in page.text
    assert 'data-tz="Asia/Tokyo" data-tz-source="browser" data-tz-offset="540"' in page.text
    assert "Times in Asia/Tokyo (your browser)" in page.text
    listing = ada.get("/messages").text
    assert 'From date <span class="tz">(Asia/Tokyo)</span>' in listing
    assert '18:30 <span class="tz">JST</span>' in listing  # 09:30 UTC
    # A cookie naming no zone is ignored
    ada.cookies.set("tz", "Asia/Atlantis")
    assert "Times in UTC (the default)" in ada.get("/messages").text


def test_the_accounts_zone_wins_over_the_browsers(store: Store, world: World, client_for: ClientFor) -> None:
    assert store.auth.set_time_zone(ADA.email, "Europe/Warsaw")
    ada = client_for(ADA.email)
    ada.cookies.set("tz", "Asia/Tokyo")
    text = ada.get("/messages").text
    assert "Times in Europe/Warsaw (your account)" in text and 'data-tz-source="account"' in text
    assert '10:30 <span class="tz">CET</span>' in text  # 09:30 UTC in March
    assert store.auth.set_time_zone(ADA.email, None)
    assert "Times in Asia/Tokyo (your browser)" in ada.get("/messages").text


def test_page_date_filters_are_the_viewers_days_but_the_api_keeps_utc(world: World, client_for: ClientFor) -> None:
    # Given a message dated 2026-03-02 09:30 UTC: 2026-03-01 23:30 in Honolulu
    ada = client_for(ADA.email)
    ada.cookies.set("tz", "Pacific/Honolulu")
    march_first = "from=2026-03-01&to=2026-03-01"
    assert "Oferta flotowa" in ada.get(f"/messages?{march_first}").text
    assert "Oferta flotowa" in ada.get(f"/messages.csv?{march_first}").text
    # The JSON API: UTC days and UTC times, whatever the cookie says
    api = ada.get(f"/api/messages?{march_first}").json()
    assert "Oferta flotowa" not in [m["subject"] for m in api["items"]]
    everything = ada.get("/api/messages").json()["items"]
    assert everything and all(m["date"].endswith("+00:00") for m in everything if m["date"])
    ada.cookies.delete("tz")
    assert "Oferta flotowa" not in ada.get(f"/messages?{march_first}").text
