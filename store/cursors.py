"""Opaque keyset cursors: a page ends at a (sort value, id) pair, and the next page starts strictly after it."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_

from store.errors import StoreError
from store.models import UTCDateTime

#: Longer strings are not cursors this module made.
MAX_CURSOR = 200


#: The largest id the listed tables hold (``Integer`` columns: 32-bit signed on PostgreSQL): a cursor beyond it is
#: forged, and PostgreSQL would refuse to bind it as an ``integer``.
MAX_ROW_ID = 2**31 - 1


class BadCursorError(StoreError):
    """An ``after`` cursor that this store did not hand out (mangled, or from another list)."""


def encode_cursor(kind: str, at: datetime, row_id: int) -> str:
    """The cursor of a row of list ``kind`` sorted by ``at`` then id."""
    raw = f"{kind}|{at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(kind: str, cursor: str) -> tuple[datetime, int]:
    """The (sort value, id) a cursor of list ``kind`` stands for; ``BadCursorError`` for anything else."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        tag, at, row_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii").split("|")
        when, number = datetime.fromisoformat(at), int(row_id)
        if tag != kind or when.tzinfo is None or not 0 <= number <= MAX_ROW_ID:
            raise ValueError("not a cursor of this list")
        # Here, not when the query binds it: an offset at the edge of the datetime range (9999-12-31T23:59-14:00)
        # has no UTC value, and the database must not be the one to find out.
        when = when.astimezone(UTC)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursorError(f"bad cursor {cursor[:40]!r}: start from the first page") from exc
    return when, number


def before(sort: Any, row_id: Any, at: datetime, last_id: int | str) -> ColumnElement[bool]:
    """Rows after (``sort``, ``row_id``) = (``at``, ``last_id``) in newest-first order.

    Spelled ``sort <= at AND (sort < at OR id < last)`` rather than as a row-value comparison: SQLite then searches
    the (sort, id) index from ``at`` instead of scanning it from the top.
    """
    when = bindparam("after_at", at, UTCDateTime())
    return and_(sort <= when, or_(sort < when, row_id < last_id))


#: A sort cursor carries a name (up to 300 characters, each up to 4 bytes of UTF-8, base64'd): longer is forged.
MAX_SORT_CURSOR = 2000
#: Sort values a sort cursor can carry: a name, a count, a date, or none (no visible mail yet).
SortValue = str | int | datetime | None


def encode_sort_cursor(kind: str, value: SortValue, row_id: int) -> str:
    """The cursor of a row of list ``kind`` sorted by ``value`` (a name, a count or a date) then id."""
    if value is None:
        tagged = "n:"
    elif isinstance(value, datetime):
        tagged = "d:" + value.isoformat()
    elif isinstance(value, int):
        tagged = f"i:{value}"
    else:
        tagged = "s:" + value
    raw = f"{kind}|{tagged}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_sort_cursor(kind: str, cursor: str) -> tuple[SortValue, int]:
    """The (sort value, id) a cursor of list ``kind`` stands for; ``BadCursorError`` for anything else, a cursor of
    another list or sort included."""
    try:
        if len(cursor) > MAX_SORT_CURSOR:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = base64.b64decode(padded, altchars=b"-_", validate=True).decode("utf-8")
        tag, rest = decoded.split("|", 1)
        tagged, row_id = rest.rsplit("|", 1)
        number = int(row_id)
        if tag != kind or not 0 <= number <= MAX_ROW_ID:
            raise ValueError("not a cursor of this list")
        value: SortValue
        type_, text = tagged[:2], tagged[2:]
        if type_ == "n:" and not text:
            value = None
        elif type_ == "d:":
            when = datetime.fromisoformat(text)
            if when.tzinfo is None:
                raise ValueError("naive date")
            value = when.astimezone(UTC)
        elif type_ == "i:":
            value = int(text)
            if not 0 <= value <= MAX_ROW_ID:
                raise ValueError("count out of range")
        elif type_ == "s:":
            value = text
        else:
            raise ValueError("unknown sort value")
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursorError(f"bad cursor {cursor[:40]!r}: start from the first page") from exc
    return value, number


#: What a text key of a key cursor can be: an inbound id (``store.ids``: Crockford base32; older ids were hex).
_TEXT_KEY = re.compile(r"[0-9A-Za-z]{1,32}")


def encode_key_cursor(kind: str, at: datetime, key: str) -> str:
    """The cursor of a row of list ``kind`` sorted by ``at`` then a text primary key (the ingest log's ids).

    A sort cursor of ``at`` (its id part unused), a dot, then the key base64'd: the dot is no base64 character.
    """
    return encode_sort_cursor(kind, at, 0) + "." + base64.urlsafe_b64encode(key.encode()).decode("ascii").rstrip("=")


def decode_key_cursor(kind: str, cursor: str) -> tuple[datetime, str]:
    """The (sort value, text key) a key cursor of list ``kind`` stands for; ``BadCursorError`` for anything else."""
    if len(cursor) > MAX_CURSOR:
        raise BadCursorError(f"bad cursor {cursor[:40]!r}: start from the first page")
    sort_part, _, key_part = cursor.partition(".")
    at, _ = decode_sort_cursor(kind, sort_part)
    try:
        key = base64.b64decode(key_part + "=" * (-len(key_part) % 4), altchars=b"-_", validate=True).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        key = ""
    if not isinstance(at, datetime) or not _TEXT_KEY.fullmatch(key):
        raise BadCursorError(f"bad cursor {cursor[:40]!r}: start from the first page")
    return at, key
