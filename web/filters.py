"""The message filter as query parameters, shared by the messages page, its CSV export and ``GET /api/messages``.

Parameters (all optional; unknown ones are ignored so that links survive new versions):

- ``q``: full-text search over subject, body and addresses
- ``direction``: ``incoming`` or ``outgoing``; ``kind``: ``bcc``, ``forward`` or ``redirect``
- ``submitter``, ``client``, ``contact``, ``lead``, ``record``: entity ids
- ``from`` and ``to``: dates as ``YYYY-MM-DD`` (UTC days, both inclusive) or ISO 8601 date-times
- ``unmatched``: ``1``/``true``/``on``/``yes`` for mail linked to no client, contact, lead or record
- ``after``: the ``next`` cursor of the previous page; ``limit``: page size, 1 to ``MAX_LIMIT``

A bad value raises ``FilterError`` naming the parameter: the page shows it, the API answers 400 with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from store import MessageFilter
from store.views import KINDS

DIRECTIONS = ("incoming", "outgoing")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
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
FILTER_PARAMS = ("q", "direction", "kind", *ID_PARAMS, "from", "to", "unmatched")


class FilterError(ValueError):
    """A query parameter with a value we cannot use; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A parsed message-list request: the filter, and where the page starts."""

    filter: MessageFilter
    after: str | None
    limit: int


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name, "").strip().lower()
    if not value:
        return None
    if value not in allowed:
        raise FilterError(name, f"must be one of {', '.join(allowed)}, not {value[:40]!r}")
    return value


def _id(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise FilterError(name, f"must be a positive whole number, not {value[:40]!r}")
    return int(value)


def _when(params: Mapping[str, str], name: str, *, end: bool) -> datetime | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            # ``to`` is inclusive for a whole day: the filter's bound is exclusive, so the next midnight.
            return start + timedelta(days=1) if end else start
        when = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(name, f"must be a date as YYYY-MM-DD, not {value[:40]!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FilterError(name, f"must be 1 or 0, not {value[:40]!r}")


def parse_filter(params: Mapping[str, str]) -> MessageFilter:
    """The ``MessageFilter`` the query parameters ask for; ``FilterError`` for a bad value."""
    q = params.get("q", "").strip() or None
    date_from = _when(params, "from", end=False)
    date_to = _when(params, "to", end=True)
    if date_from is not None and date_to is not None and date_to <= date_from:
        raise FilterError("to", "must not be before from")
    ids = {field: _id(params, param) for param, field in ID_PARAMS.items()}
    return MessageFilter(
        q=q,
        direction=_choice(params, "direction", DIRECTIONS),
        kind=_choice(params, "kind", KINDS),
        date_from=date_from,
        date_to=date_to,
        unmatched=_flag(params, "unmatched"),
        **ids,
    )


def parse_list_query(params: Mapping[str, str], *, default_limit: int = DEFAULT_LIMIT) -> ListQuery:
    """The filter plus the paging parameters ``after`` and ``limit``."""
    limit_text = params.get("limit", "").strip()
    limit = default_limit
    if limit_text:
        if not limit_text.isascii() or not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise FilterError("limit", f"must be a whole number from 1 to {MAX_LIMIT}, not {limit_text[:40]!r}")
        limit = int(limit_text)
    return ListQuery(parse_filter(params), params.get("after", "").strip() or None, limit)


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
