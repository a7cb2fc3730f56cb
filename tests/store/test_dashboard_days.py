"""The dashboard's mail per day counts on the days of the zone it is given: an instant counts on its date in that
zone, also on the days the clocks change and in zones 45 minutes off the hour, on SQLite and PostgreSQL; and the
spans of UTC time those days are (``store.days``), found from the zone database, not from an offset."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from store import Store
from store.dashboard import CHART_DAYS, DashboardPanels
from store.days import day_spans
from store.models import Inbound, Message
from tests.store.world import ADA, World, build_world

WARSAW, KATHMANDU = ZoneInfo("Europe/Warsaw"), ZoneInfo("Asia/Kathmandu")
#: Long before any chart here: where the world's other mail is moved.
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def filed_at(store: Store, world: World, *instants: datetime) -> None:
    """The world's messages and their receipts moved: the first ones to ``instants``, the rest out of any chart."""
    ids = sorted(world.m.values())
    assert len(ids) > len(instants)
    with store.engine.begin() as conn:
        conn.execute(update(Message).values(created_at=LONG_AGO))
        conn.execute(update(Inbound).values(received_at=LONG_AGO))
        for message_id, at in zip(ids, instants, strict=False):
            conn.execute(update(Message).where(Message.id == message_id).values(created_at=at))
            conn.execute(update(Inbound).where(Inbound.message_id == message_id).values(received_at=at))
    store.queries.rebuild_index_counts()  # the rows above bypassed the store, which keeps its counts and team mail


def _panels(store: Store, world: World, now: datetime, zone: tzinfo) -> DashboardPanels:
    return store.queries.dashboard_panels(world.viewer(store, ADA.email), now, zone)


def _per_day(panels: DashboardPanels) -> dict[str, int]:
    """Messages filed per day (ISO date) where there were any; checked against the receipts by outcome."""
    filed = {d.isoformat(): sum(s[i] for s in panels.filed_by_kind.values()) for i, d in enumerate(panels.days)}
    assert panels.outcomes is not None
    received = {d.isoformat(): sum(s[i] for s in panels.outcomes.values()) for i, d in enumerate(panels.days)}
    assert received == filed, "receipts and their messages count on the same days"
    return {day: n for day, n in filed.items() if n}


def test_a_message_filed_at_23_30_utc_is_the_next_day_in_warsaw(store: Store) -> None:
    world = build_world(store)
    filed_at(store, world, _utc("2026-03-04 23:30"))
    now = _utc("2026-03-10 12:00")

    utc = _panels(store, world, now, UTC)
    warsaw = _panels(store, world, now, WARSAW)

    assert _per_day(utc) == {"2026-03-04": 1}
    assert _per_day(warsaw) == {"2026-03-05": 1}
    assert utc.days[-1] == warsaw.days[-1] == date(2026, 3, 10) and len(utc.days) == CHART_DAYS


def test_today_is_the_viewers_today(store: Store) -> None:
    """At 23:30 UTC it is already tomorrow in Warsaw: the chart ends a day later, and mail of the last minutes
    counts on that day."""
    world = build_world(store)
    filed_at(store, world, _utc("2026-03-10 23:10"), _utc("2026-03-10 22:50"))
    now = _utc("2026-03-10 23:30")
    assert _panels(store, world, now, UTC).days[-1] == date(2026, 3, 10)
    warsaw = _panels(store, world, now, WARSAW)
    assert warsaw.days[-1] == date(2026, 3, 11)
    assert _per_day(warsaw) == {"2026-03-10": 1, "2026-03-11": 1}


@pytest.mark.parametrize(
    ("now", "instants", "expected"),
    [
        # Spring forward: Warsaw's 29 March 2026 lasts 23 hours, 23:00 UTC on the 28th to 22:00 UTC on the 29th.
        (
            "2026-04-02 12:00",
            ("2026-03-28 22:59", "2026-03-28 23:00", "2026-03-29 21:59", "2026-03-29 22:00"),
            {"2026-03-28": 1, "2026-03-29": 2, "2026-03-30": 1},
        ),
        # Fall back: its 25 October 2026 lasts 25 hours, 22:00 UTC on the 24th to 23:00 UTC on the 25th.
        (
            "2026-10-27 12:00",
            ("2026-10-24 21:59", "2026-10-24 22:00", "2026-10-25 01:30", "2026-10-25 22:59", "2026-10-25 23:00"),
            {"2026-10-24": 1, "2026-10-25": 3, "2026-10-26": 1},
        ),
    ],
)
def test_days_when_the_clocks_change_are_counted_whole(
    store: Store, now: str, instants: tuple[str, ...], expected: dict[str, int]
) -> None:
    world = build_world(store)
    filed_at(store, world, *map(_utc, instants))
    assert _per_day(_panels(store, world, _utc(now), WARSAW)) == expected


def test_a_zone_45_minutes_off_the_hour(store: Store) -> None:
    # Kathmandu is UTC+05:45: its 5 March starts at 18:15 UTC on the 4th
    world = build_world(store)
    filed_at(store, world, _utc("2026-03-04 18:14"), _utc("2026-03-04 18:15"))
    assert _per_day(_panels(store, world, _utc("2026-03-10 12:00"), KATHMANDU)) == {"2026-03-04": 1, "2026-03-05": 1}


# --- store.days: local days as spans of UTC time -------------------------------------------------------------


def _spans(zone: str, first: date, n: int) -> list[tuple[str, int]]:
    days = [first + timedelta(days=i) for i in range(n)]
    return [(start.strftime("%Y-%m-%d %H:%M"), i) for start, i in day_spans(days, ZoneInfo(zone))]


def test_days_are_spans_between_local_midnights() -> None:
    assert _spans("UTC", date(2026, 3, 1), 2) == [
        ("2026-03-01 00:00", 0),
        ("2026-03-02 00:00", 1),
        ("2026-03-03 00:00", -1),
    ]
    assert _spans("Europe/Warsaw", date(2026, 3, 28), 3) == [
        ("2026-03-27 23:00", 0),
        ("2026-03-28 23:00", 1),
        ("2026-03-29 22:00", 2),
        ("2026-03-30 22:00", -1),
    ]


def test_a_day_whose_midnight_the_clocks_skip_starts_when_they_jump() -> None:
    # Santiago skips 6 September 2026's midnight: from 23:59:59 on the 5th (UTC-4) to 01:00 (UTC-3), at 04:00 UTC
    assert _spans("America/Santiago", date(2026, 9, 5), 2) == [
        ("2026-09-05 04:00", 0),
        ("2026-09-06 04:00", 1),
        ("2026-09-07 03:00", -1),
    ]


def test_a_day_the_zone_skipped_gets_no_span() -> None:
    # Samoa went from 29 to 31 December 2011, across the date line
    assert _spans("Pacific/Apia", date(2011, 12, 29), 3) == [
        ("2011-12-29 10:00", 0),
        ("2011-12-30 10:00", 2),
        ("2011-12-31 10:00", -1),
    ]
