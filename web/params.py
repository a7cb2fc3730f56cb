"""Query and path parameters every handler reads the same way: ids, page sizes, statuses and cursors.

A bad value raises ``FilterError`` naming the parameter (``web.errors`` answers it with a 400 saying so), and a path
id that can name no row ``NotFoundError``. Every value is checked here, before the store sees it, so a value the
database could not bind is never the database's error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.requests import Request

from web.errors import FilterError, NotFoundError

#: Ids are 32-bit in the database (PostgreSQL ``integer``): a larger one names nothing, and cannot be bound.
MAX_ID = 2**31 - 1


def valid_id(value: int) -> bool:
    """Whether a path id can name a row at all: ids above ``MAX_ID`` are answered 404 without asking the database,
    which would fail on integers it cannot bind."""
    return 0 < value <= MAX_ID


def path_id(request: Request, name: str) -> int:
    """The path parameter ``name`` (a route's ``{name:int}``); ``NotFoundError`` when it can name no row."""
    value = request.path_params[name]
    assert isinstance(value, int)  # the route's ``{name:int}`` converter
    if not valid_id(value):
        raise NotFoundError
    return value


def whole_number(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """The parameter ``name`` as a whole number from ``low`` to ``high``; ``None`` when blank; else ``FilterError``."""
    value = params.get(name, "").strip()
    if not value:
        return None
    # The length check first: int() refuses (ValueError) more than 4300 digits, and a longer number is out of range.
    digits = value.lstrip("0") or "0"
    if not (value.isascii() and value.isdigit() and len(digits) <= len(str(high)) and low <= int(digits) <= high):
        raise FilterError(name, f"must be a whole number from {low} to {high}, not {value[:40]!r}")
    return int(digits)


def parse_limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    """The page size ``limit``: 1 to ``maximum``, ``default`` when blank; ``FilterError`` for anything else."""
    limit = whole_number(params, "limit", 1, maximum)
    return default if limit is None else limit


def limit_param(params: Mapping[str, str]) -> str | None:
    """``limit`` as the request gave it (``None`` when blank), for the links of the next and first pages."""
    return params.get("limit", "").strip() or None


def parse_choice(params: Mapping[str, str], name: str, allowed: Sequence[str]) -> str | None:
    """The parameter ``name``, lower-cased, one of ``allowed``; ``None`` when blank; else ``FilterError``."""
    value = params.get(name, "").strip().lower()
    if not value:
        return None
    if value not in allowed:
        raise FilterError(name, f"must be one of {', '.join(allowed)}, not {value[:40]!r}")
    return value


def parse_status(params: Mapping[str, str], statuses: Sequence[str]) -> str | None:
    """The ingest log's ``status`` filter: one of ``statuses``, or ``None`` for every status."""
    return parse_choice(params, "status", statuses)


def parse_after(params: Mapping[str, str]) -> str | None:
    """The ``after`` cursor of a keyset page, as given; the store checks it (``BadCursorError``)."""
    return params.get("after", "").strip() or None
