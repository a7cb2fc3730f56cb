"""Small charts drawn on the server as inline SVG: no script, no library, nothing fetched, and no ``style``
attribute (the viewer's CSP allows only its own stylesheet), so each series is coloured by a class.

``stacked_bars`` lays out one bar per day with a segment per series; the template draws the rectangles it returns,
and under them the first and last day and the zone the days are days of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

#: The drawing's size in SVG units; the stylesheet scales it to the page.
WIDTH = 420
HEIGHT = 120
#: Room below the bars for the first and last day's labels and the zone's.
LABEL_ROOM = 14
GAP = 2


@dataclass(frozen=True, slots=True)
class Bar:
    """One rectangle: a series' count on one day."""

    x: float
    y: float
    width: float
    height: float
    series: str
    day: date
    count: int


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    series: tuple[str, ...]
    first: date
    last: date
    #: The tallest day's total: what the full bar height stands for.
    peak: int
    total: int
    #: The IANA zone the days are days of (the viewer's), which the axis says.
    zone: str = "UTC"


def stacked_bars(days: Sequence[date], series: Mapping[str, Sequence[int]], *, zone: str = "UTC") -> Chart:
    """A bar per day of ``days`` (days in ``zone``), each split into ``series`` (every sequence aligned with
    ``days``), stacked in the mapping's order; heights scaled to the busiest day (a day without mail draws nothing)."""
    names = tuple(series)
    totals = [sum(series[name][i] for name in names) for i in range(len(days))]
    peak = max(totals, default=0)
    plot = HEIGHT - LABEL_ROOM
    step = WIDTH / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        top = float(plot)
        for name in names:
            n = series[name][i]
            if n <= 0 or peak == 0:
                continue
            h = plot * n / peak
            top -= h
            bars.append(
                Bar(round(i * step + GAP / 2, 1), round(top, 1), round(step - GAP, 1), round(h, 1), name, day, n)
            )
    return Chart(WIDTH, HEIGHT, tuple(bars), names, days[0], days[-1], peak, sum(totals), zone)
