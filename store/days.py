"""Days of a time zone as spans of UTC time: the store keeps instants in UTC, and the dashboard counts them per
day of the viewer's zone, in SQL, by comparing each instant with the UTC bounds of those days.

A local day is not a UTC day shifted by one offset: it lasts 23 or 25 hours when the clocks change, some offsets
are 30 or 45 minutes off the hour (Asia/Kolkata, Asia/Kathmandu), and where clocks go back across midnight the
date even goes back for a while. So the bounds are not computed from an offset but found: the local date can
change only at a local midnight (either one, if it happens twice) or where the offset changes, and ``day_spans``
asks the zone for the date at each such instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise


def _offset(at: datetime, zone: tzinfo) -> timedelta | None:
    return at.astimezone(zone).utcoffset()


def _midnights(day: date, zone: tzinfo) -> set[datetime]:
    """The UTC instants of ``day``'s local midnight: one, or two where the clocks make it happen twice. (Where
    they skip it, the first is when they jump, which is when the day starts, and the other is an hour earlier.)"""
    return {datetime.combine(day, time(0, fold=fold), tzinfo=zone).astimezone(UTC) for fold in (0, 1)}


def _offset_change(start: datetime, end: datetime, zone: tzinfo) -> datetime | None:
    """The instant after ``start``, up to ``end``, from which the offset differs from ``start``'s, if it does."""
    before = _offset(start, zone)
    if _offset(end, zone) == before:
        return None  # no zone changes its offset and back between two midnights
    # Bisect over whole seconds: the zone database's changes fall on them, so the instant found is exact.
    low, high = int(start.timestamp()), int(end.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _offset(datetime.fromtimestamp(middle, UTC), zone) == before else (low, middle)
    return datetime.fromtimestamp(high, UTC)


def day_spans(days: Sequence[date], zone: tzinfo) -> list[tuple[datetime, int]]:
    """Where each day of ``days`` (consecutive, oldest first) lies in UTC in ``zone``: ``(start, index)`` pairs in
    order, each instant from a ``start`` to the next being on ``days[index]`` (``-1``: none of them, for an hour the
    date went back); the last pair is ``(end, -1)``, where the last day ends."""
    bounds: set[datetime] = set()
    for n in range(len(days) + 1):
        bounds |= _midnights(days[0] + timedelta(days=n), zone)
    ordered = sorted(bounds)
    for start, end in pairwise(ordered):
        change = _offset_change(start, end, zone)
        if change is not None:
            bounds.add(change)
    index = {day: i for i, day in enumerate(days)}
    spans: list[tuple[datetime, int]] = []
    *inside, end = sorted(bounds)
    for start in inside:
        i = index.get(start.astimezone(zone).date(), -1)
        if not spans or spans[-1][1] != i:
            spans.append((start, i))
    return [*spans, (end, -1)]
