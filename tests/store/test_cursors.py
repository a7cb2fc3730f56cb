"""Cursors: a cursor this store did not hand out is a ``BadCursorError``, whatever its dates and ids."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from store import BadCursorError
from store.cursors import MAX_ROW_ID, decode_cursor, encode_cursor


def forged(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def test_a_cursor_round_trips_in_utc() -> None:
    at = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    when, row_id = decode_cursor("m", encode_cursor("m", at, 42))
    assert (when, row_id) == (at, 42)
    assert when.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [
        "m|9999-12-31T23:59:59-14:00|1",  # no UTC value: past datetime.max
        "m|0001-01-01T00:00:00+14:00|1",  # before datetime.min
        f"m|2026-01-01T00:00:00+00:00|{MAX_ROW_ID + 1}",  # beyond a 32-bit id column
        f"m|2026-01-01T00:00:00+00:00|{2**63}",
        "m|2026-01-01T00:00:00+00:00|-1",
        "m|2026-01-01T00:00:00|1",  # naive
        "l|2026-01-01T00:00:00+00:00|1",  # another list's
        "m|2026-01-01T00:00:00+00:00",
    ],
)
def test_forged_cursors_are_bad(raw: str) -> None:
    with pytest.raises(BadCursorError, match="start from the first page"):
        decode_cursor("m", forged(raw))


def test_the_largest_id_and_the_latest_instant_are_still_cursors() -> None:
    assert decode_cursor("m", forged(f"m|9999-12-31T23:59:59.999999+00:00|{MAX_ROW_ID}")) == (
        datetime.max.replace(tzinfo=UTC),
        MAX_ROW_ID,
    )
