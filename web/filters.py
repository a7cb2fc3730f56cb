"""The message filter as query parameters, shared by the messages page, its CSV export and ``GET /api/messages``.

Parameters (all optional; unknown ones are ignored so that links survive new versions):

- ``q``: full-text search over subject, body and addresses
- ``direction``: ``incoming`` or ``outgoing``; ``kind``: ``bcc``, ``forward`` or ``redirect``
- ``submitter``, ``client``, ``contact``, ``lead``, ``record``: entity ids
- ``from`` and ``to``: dates as ``YYYY-MM-DD`` (days, both inclusive) or ISO 8601 date-times, from
  ``EARLIEST_DAY`` to ``LATEST_DAY``; a day or a date-time without an offset is the caller's ``zone``: the
  viewer's on pages (``web.timezone``), UTC in the JSON API
- ``unmatched``: ``1``/``true``/``on``/``yes`` for mail linked to no client, contact, lead or record
- ``code``: mail whose subject carried this record code (``OP-123``), resolved or not
- ``after``: the ``next`` cursor of the previous page; ``limit``: page size, 1 to ``MAX_LIMIT``

A bad value raises ``FilterError`` naming the parameter: the page shows it, the API answers 400 with it. Every
value is checked here, before the store sees it: one that parses but is out of range for datetime arithmetic or a
database integer is a ``FilterError`` too, never an error from the database (or from the middle of a CSV stream).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from urllib.parse import urlencode

from store import MessageFilter
from store.page_shapes import KINDS
from web.errors import FilterError
from web.params import MAX_ID, parse_after, parse_choice, parse_limit, whole_number

DIRECTIONS = ("incoming", "outgoing")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: The days a date filter may name, as written (before its offset). One day inside Python's datetime range at each
#: end: any UTC offset (under 24 hours) still converts to UTC, and the day after an inclusive ``to`` exists.
EARLIEST_DAY = date(1, 1, 2)
LATEST_DAY = date(9999, 12, 30)
_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"", "0", "false", "off", "no"})
#: Query parameter → ``MessageFilter`` field, for the id filters.
ID_PARAMS = {
    "submitter": "submitter_id",
    "client": "client_id",
    "contact": "contact_id",
    "lead": "lead_id",
    "record": "record_id",
}
#: Every parameter that is part of the filter (``after`` and ``limit`` are paging, not filter).
FILTER_PARAMS = ("q", "direction", "kind", *ID_PARAMS, "from", "to", "unmatched", "code")
#: A record code as stored: ``PREFIX-DIGITS`` (``web.filters`` upper-cases what it is given), at most 64 characters.
_CODE = re.compile(r"[A-Z][A-Z0-9]*-[0-9]+")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A parsed message-list request: the filter, and where the page starts."""

    filter: MessageFilter
    after: str | None
    limit: int


def _id(params: Mapping[str, str], name: str) -> int | None:
    return whole_number(params, name, 1, MAX_ID)


def _when(params: Mapping[str, str], name: str, *, end: bool, zone: tzinfo) -> datetime | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        day_only = len(value) == 10
        when = datetime.combine(date.fromisoformat(value), time()) if day_only else datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(name, f"must be a date as YYYY-MM-DD, not {value[:40]!r}") from None
    if not EARLIEST_DAY <= when.date() <= LATEST_DAY:
        raise FilterError(name, f"must be a date from {EARLIEST_DAY} to {LATEST_DAY}, not {value[:40]!r}")
    # In range, so neither the day after nor the conversion to UTC can overflow.
    when = when if when.tzinfo is not None else when.replace(tzinfo=zone)
    # ``to`` is inclusive for a whole day: the filter's bound is exclusive, so the next midnight, in that zone
    # (wall-clock arithmetic: a day of a DST change is 23 or 25 hours long).
    return (when + timedelta(days=1) if day_only and end else when).astimezone(UTC)


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FilterError(name, f"must be 1 or 0, not {value[:40]!r}")


def _code(params: Mapping[str, str]) -> str | None:
    value = params.get("code", "").strip()
    if not value:
        return None
    code = value.upper()
    if len(code) > 64 or not _CODE.fullmatch(code):
        raise FilterError("code", f"must be a record code such as OP-123, not {value[:40]!r}")
    return code


def parse_filter(params: Mapping[str, str], *, zone: tzinfo = UTC) -> MessageFilter:
    """The ``MessageFilter`` the query parameters ask for, dates without an offset in ``zone``; ``FilterError`` for
    a bad value."""
    q = params.get("q", "").strip() or None
    date_from = _when(params, "from", end=False, zone=zone)
    date_to = _when(params, "to", end=True, zone=zone)
    if date_from is not None and date_to is not None and date_to <= date_from:
        raise FilterError("to", "must not be before from")
    ids = {field: _id(params, param) for param, field in ID_PARAMS.items()}
    return MessageFilter(
        q=q,
        direction=parse_choice(params, "direction", DIRECTIONS),
        kind=parse_choice(params, "kind", KINDS),
        date_from=date_from,
        date_to=date_to,
        unmatched=_flag(params, "unmatched"),
        code=_code(params),
        submitter_id=ids["submitter_id"],
        client_id=ids["client_id"],
        contact_id=ids["contact_id"],
        lead_id=ids["lead_id"],
        record_id=ids["record_id"],
    )


def parse_list_query(params: Mapping[str, str], *, default_limit: int = DEFAULT_LIMIT, zone: tzinfo = UTC) -> ListQuery:
    """The filter (dates without an offset in ``zone``) plus the paging parameters ``after`` and ``limit``."""
    limit = parse_limit(params, default_limit, MAX_LIMIT)
    return ListQuery(parse_filter(params, zone=zone), parse_after(params), limit)


def filter_params(params: Mapping[str, str]) -> dict[str, str]:
    """The non-empty filter parameters of a request, to carry into pagination and export links."""
    return {name: params[name] for name in FILTER_PARAMS if params.get(name, "").strip()}


def filter_query(params: Mapping[str, str], **extra: str | None) -> str:
    """A query string of the request's filter plus ``extra`` (``None`` values left out), e.g. for the next page."""
    merged: dict[str, str] = filter_params(params)
    merged.update({k: v for k, v in extra.items() if v is not None})
    return urlencode(merged)


def is_empty(f: MessageFilter) -> bool:
    """Whether the filter narrows nothing."""
    return all(getattr(f, field.name) in (None, False) for field in fields(f))
