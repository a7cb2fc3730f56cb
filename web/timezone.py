"""The time zone the viewer shows times in: the user's own (set by ``mailassist user set-time-zone``), else the
browser's (the ``tz`` cookie that ``static/keys.js`` sets from ``Intl``), else UTC.

The viewer never writes to the database (DESIGN invariant 7), so the browser's zone lives in a cookie the browser
itself sets, not in the account. Only names of the zone database count: a cookie naming anything else is ignored,
as if it were absent. Pages show every time in the zone with its abbreviation or offset; the JSON API keeps ISO 8601
in UTC, whoever asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from starlette.requests import Request

from web.auth.middleware import current_user

#: The cookie ``static/keys.js`` keeps the browser's zone in.
TZ_COOKIE = "tz"
#: Longer names are no zone (the longest in the zone database has 32 characters).
MAX_ZONE_NAME = 64
#: Why a page shows the zone it does, as its footer says it.
WHY = {"account": "your account", "browser": "your browser", "default": "the default"}


@dataclass(frozen=True, slots=True)
class ViewerZone:
    """The zone a page shows times in, its IANA name, and where it came from (a key of ``WHY``)."""

    name: str
    zone: tzinfo
    source: str

    @property
    def why(self) -> str:
        """Where the zone came from, in words: "your account", "your browser" or "the default"."""
        return WHY[self.source]

    @property
    def offset_minutes(self) -> int:
        """The zone's offset from UTC now, in minutes east (``static/keys.js`` compares the browser's)."""
        offset = datetime.now(self.zone).utcoffset()
        return int(offset.total_seconds()) // 60 if offset is not None else 0


#: No account zone and no usable cookie.
DEFAULT_ZONE = ViewerZone("UTC", UTC, "default")


@cache
def _zone_names() -> frozenset[str]:
    # Read once: the names are files of the zone database (or of the tzdata package), which a running viewer does
    # not see change; ZoneInfo alone would also open any other file name it is given under the zone directories.
    return frozenset(available_timezones())


def find_zone(name: str | None) -> ZoneInfo | None:
    """The zone the IANA name ``name`` stands for (``Europe/Warsaw``), or ``None`` for what names no zone."""
    if not name or len(name) > MAX_ZONE_NAME or name not in _zone_names():
        return None
    return ZoneInfo(name)


def resolve_zone(account: str | None, cookie: str | None) -> ViewerZone:
    """The zone to show: the account's if it names one, else the browser cookie's if it names one, else UTC."""
    for name, source in ((account, "account"), (cookie, "browser")):
        zone = find_zone(name)
        if zone is not None and name is not None:
            return ViewerZone(name, zone, source)
    return DEFAULT_ZONE


def viewer_zone(request: Request) -> ViewerZone:
    """The zone this request's pages show times in (the logged-in user's, the cookie's, or UTC)."""
    user = current_user(request)
    return resolve_zone(user.time_zone if user is not None else None, request.cookies.get(TZ_COOKIE))


#: The zone of the page being rendered: ``_macros.html``'s ``when`` is imported without the page's context, so the
#: ``local_time`` filter it calls finds the zone here. Set only around one render (``rendering_in``).
_SHOWN: ContextVar[ViewerZone] = ContextVar("shown_zone", default=DEFAULT_ZONE)


@contextmanager
def rendering_in(zone: ViewerZone) -> Iterator[None]:
    """Within this block, ``local_time`` converts to ``zone``."""
    token = _SHOWN.set(zone)
    try:
        yield
    finally:
        _SHOWN.reset(token)


def local_time(value: datetime) -> datetime:
    """``value`` in the zone of the page being rendered (a naive value is taken as UTC, as the store keeps it)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(_SHOWN.get().zone)
