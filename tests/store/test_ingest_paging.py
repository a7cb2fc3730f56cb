"""The ingest log a keyset page at a time: newest first by (received_at, id), stable while receipts arrive, the
status and reason filters kept, and cursors this list did not hand out refused; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from store import BadCursorError, Store
from store.cursors import decode_key_cursor, encode_cursor, encode_key_cursor
from store.models import Inbound

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _receipts(store: Store, times: list[datetime]) -> list[str]:
    """One receipt per time (``received_at`` set to it), ids in order of arrival."""
    ids = []
    for i, at in enumerate(times):
        receipt = store.receipts.add_inbound(
            f"Subject: {i}\r\n\r\nbody {i}\r\n".encode(), mail_from="a@x.example", rcpt_tos=["b@y.example"]
        )
        with store.engine.begin() as conn:
            conn.execute(sa.update(Inbound).where(Inbound.id == receipt.id).values(received_at=at))
        ids.append(receipt.id)
    return ids


def _newest_first(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(Inbound.id).order_by(Inbound.received_at.desc(), Inbound.id.desc()))
        return [row.id for row in rows]


def _all_pages(store: Store, limit: int, **filters: str) -> tuple[list[str], int]:
    """Every receipt the filters keep, following ``next`` from the first page; and how many pages that took."""
    seen: list[str] = []
    after, pages = None, 0
    while True:
        page = store.queries.list_ingest_log(limit=limit, after=after, **filters)  # type: ignore[arg-type]
        pages += 1
        seen += [row.receipt.id for row in page.items]
        if page.next is None:
            return seen, pages
        after = page.next


def test_pages_follow_received_time_then_id_with_ties_split_anywhere(store: Store) -> None:
    # Given seven receipts, three of them at the same instant
    times = [
        T0,
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
        *([T0 + timedelta(minutes=3)] * 3),
        T0 + timedelta(hours=1),
    ]
    ids = _receipts(store, times)
    # When the log is read two at a time (a page boundary falls inside the tie)
    seen, pages = _all_pages(store, 2)
    # Then every receipt comes once, newest first, ties by id, and the last page says so
    assert seen == _newest_first(store)
    assert sorted(seen) == sorted(ids) and pages == 4
    assert seen[0] == ids[-1] and seen[-1] == ids[0]


def test_a_page_that_fills_exactly_is_the_last_one(store: Store) -> None:
    _receipts(store, [T0, T0 + timedelta(seconds=1)])
    page = store.queries.list_ingest_log(limit=2)
    assert len(page.items) == 2 and page.next is None


def test_receipts_arriving_meanwhile_do_not_shift_the_next_page(store: Store) -> None:
    _receipts(store, [T0 + timedelta(minutes=m) for m in range(5)])
    first = store.queries.list_ingest_log(limit=2)
    expected = _newest_first(store)[2:4]
    # When newer mail arrives between two page loads
    _receipts(store, [T0 + timedelta(hours=2), T0 + timedelta(hours=3)])
    second = store.queries.list_ingest_log(limit=2, after=first.next)
    # Then the next page still starts just after the last row shown
    assert [row.receipt.id for row in second.items] == expected


def test_status_and_reason_filters_hold_on_every_page(store: Store) -> None:
    ids = _receipts(store, [T0 + timedelta(minutes=m) for m in range(6)])
    for receipt_id in ids[::2]:
        assert store.receipts.mark_processed(receipt_id, "ignored", reason="List-Id header: a mailing list")
    assert store.receipts.mark_processed(ids[1], "ignored", reason="noreply sender")
    seen, pages = _all_pages(store, 1, status="ignored", reason="list-id")
    assert seen == list(reversed(ids[::2])) and pages == 3
    queued, _ = _all_pages(store, 2, status="queued")
    assert queued == [ids[5], ids[3]]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "x" * 500,
        encode_cursor("m", T0, 7),  # a message-list cursor
        encode_key_cursor("l", T0, "ABC"),  # another list's key cursor
        encode_key_cursor("r", T0, "ABC").split(".")[0] + ".Li4vZXRj",  # a key that is no id ("../etc")
        encode_key_cursor("r", T0, "ABC").split(".")[0],  # no key at all
    ],
)
def test_a_cursor_this_list_did_not_hand_out_is_refused(store: Store, cursor: str) -> None:
    with pytest.raises(BadCursorError):
        store.queries.list_ingest_log(limit=2, after=cursor)


def test_key_cursors_round_trip_in_utc() -> None:
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert decode_key_cursor("r", encode_key_cursor("r", at, "01JEXAMPLE0000000A")) == (at, "01JEXAMPLE0000000A")


def test_the_log_order_is_read_from_its_index(store: Store) -> None:
    indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(store.engine).get_indexes("inbound")}
    assert indexes.get("ix_inbound_received_at_id") == ["received_at", "id"]
    assert "ix_inbound_received_at" not in indexes  # replaced: the pair serves what sorted by time alone
    if store.engine.dialect.name == "sqlite":
        sql = "EXPLAIN QUERY PLAN SELECT id FROM inbound ORDER BY received_at DESC, id DESC LIMIT 3"
        with store.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(sql))
        assert "ix_inbound_received_at_id" in plan and "TEMP B-TREE" not in plan
