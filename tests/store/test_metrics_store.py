"""The counters behind ``/metrics``: the snapshot, SMTP refusals per day and code, and the gateway's tally."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from store import RejectionTally, Store
from store.metrics import RejectionKey, rejection_code


def seed_inbound(store: Store, **statuses: int) -> list[str]:
    """Receipts in each status, oldest first; returns their ids."""
    ids: list[str] = []
    for status, n in statuses.items():
        for _ in range(n):
            inbound_id = store.receipts.add_inbound(
                f"{status} {len(ids)}".encode(), mail_from="a@x.test", rcpt_tos=["b@x"]
            ).id
            ids.append(inbound_id)
            if status == "failed":
                assert store.receipts.mark_attempt_failed(inbound_id, "boom", max_attempts=1) == "failed"
            elif status != "queued":
                assert store.receipts.mark_processed(inbound_id, status, reason="test")
    return ids


def test_an_empty_store_counts_zero(store: Store) -> None:
    snapshot = store.metrics.metrics_snapshot()
    assert snapshot.inbound == {"queued": 0, "linked": 0, "ignored": 0, "failed": 0}
    assert snapshot.rejections == {}
    assert snapshot.oldest_queued_at is None


def test_snapshot_counts_receipts_by_status_and_the_oldest_queued(store: Store) -> None:
    ids = seed_inbound(store, linked=3, queued=2, ignored=1, failed=2)
    first_queued = store.receipts.get_inbound(ids[3])
    assert first_queued is not None and first_queued.status == "queued"

    snapshot = store.metrics.metrics_snapshot()

    assert snapshot.inbound == {"queued": 2, "linked": 3, "ignored": 1, "failed": 2}
    assert snapshot.oldest_queued_at == first_queued.received_at
    assert snapshot.oldest_queued_at is not None and snapshot.oldest_queued_at.tzinfo is not None


def test_rejections_add_up_per_day_and_code(store: Store) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    store.metrics.add_rejections({"550 5.1.1": 2}, day=yesterday)
    store.metrics.add_rejections({"550 5.1.1": 1, "452 4.5.3": 1})
    store.metrics.add_rejections({"550 5.1.1": 4, "550 5.7.1": 0})  # zero counts write nothing
    store.metrics.add_rejections({})

    assert store.metrics.metrics_snapshot().rejections == {"550 5.1.1": 7, "452 4.5.3": 1}


def test_rejection_rows_are_one_per_day_and_code(store: Store) -> None:
    for _ in range(3):
        store.metrics.add_rejections({"550 5.1.1": 1}, day=date(2026, 3, 1))
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT day, code, count FROM smtp_rejections").all()
    assert [(str(day)[:10], code, count) for day, code, count in rows] == [("2026-03-01", "550 5.1.1", 3)]


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("550 5.1.1 <x@y>: Recipient address rejected", "550 5.1.1"),
        ("452 4.5.3 Too many recipients", "452 4.5.3"),
        ("550 Sender refused", "550"),
        ("554-5.7.1 multi-line", "554 5.7.1"),
        ("  421 4.7.0 Too many connections", "421 4.7.0"),
        ("no code at all", "other"),
        ("", "other"),
    ],
)
def test_rejection_code(reply: str, code: str) -> None:
    assert rejection_code(reply) == code


# --- the gateway's tally -----------------------------------------------------------------------------------------


class Writes:
    """A ``write`` that records its batches and can be held (or made to fail) by the test."""

    def __init__(self) -> None:
        self.batches: list[dict[RejectionKey, int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail = False

    def __call__(self, counts: Mapping[RejectionKey, int]) -> None:
        self.entered.set()
        assert self.release.wait(10)
        if self.fail:
            raise RuntimeError("database down")
        self.batches.append(dict(counts))

    def total(self) -> dict[RejectionKey, int]:
        total: dict[RejectionKey, int] = {}
        for batch in self.batches:
            for code, n in batch.items():
                total[code] = total.get(code, 0) + n
        return total


def test_a_flood_of_refusals_is_written_in_few_batches() -> None:
    writes = Writes()
    with ThreadPoolExecutor(2) as pool:
        tally = RejectionTally(writes, pool.submit)
        # Given the first write held in the database
        writes.release.clear()
        tally.add("550 5.1.1 <a@x>: Recipient address rejected")
        assert writes.entered.wait(10)
        # When a hundred more refusals come meanwhile
        for i in range(100):
            tally.add("452 4.5.3 Too many recipients" if i % 2 else "550 5.1.1 <b@x>: rejected")
        writes.release.set()
    # Then they are written as one more batch, and nothing is lost
    assert writes.batches == [{("550 5.1.1", "policy"): 1}, {("550 5.1.1", "policy"): 50, ("452 4.5.3", "policy"): 50}]


def test_a_failed_write_loses_its_batch_but_never_raises() -> None:
    writes = Writes()
    writes.fail = True
    with ThreadPoolExecutor(1) as pool:
        tally = RejectionTally(writes, pool.submit)
        tally.add("550 5.1.1 lost")
        pool.submit(lambda: None).result(10)  # the drain ran before this
    writes.fail = False
    with ThreadPoolExecutor(1) as pool:
        tally._submit = pool.submit
        tally.add("550 5.7.1 counted", "not_aligned")
    assert writes.total() == {("550 5.7.1", "not_aligned"): 1}


def test_an_executor_that_refuses_work_costs_no_exception() -> None:
    writes = Writes()
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    submit: Callable[[Callable[[], None]], Any] = pool.submit
    tally = RejectionTally(writes, submit)

    tally.add("550 5.1.1 x")  # the executor raises RuntimeError: swallowed

    with ThreadPoolExecutor(1) as alive:
        tally._submit = alive.submit
        tally.add("550 5.1.1 y")
    assert writes.total() == {("550 5.1.1", "policy"): 2}  # the first refusal waited for the next write


def test_without_a_writer_nothing_is_counted() -> None:
    calls: list[object] = []
    RejectionTally(None, calls.append).add("550 5.1.1 x")
    assert calls == []


def test_the_tally_writes_through_the_store(store: Store) -> None:
    with ThreadPoolExecutor(1) as pool:
        tally = RejectionTally(store.metrics.add_rejections, pool.submit)
        for _ in range(3):
            tally.add("550 5.1.1 <x@y>: rejected")
    assert store.metrics.metrics_snapshot().rejections == {"550 5.1.1": 3}


def test_rejections_are_counted_per_reason_as_well_as_per_code(store: Store) -> None:
    store.metrics.add_rejections({("550 5.7.1", "not_aligned"): 2, ("550 5.7.1", "redirect_unproven"): 1})
    store.metrics.add_rejections({("550 5.7.1", "not_aligned"): 1, "550 5.1.1": 1})

    snapshot = store.metrics.metrics_snapshot()

    assert snapshot.rejections == {"550 5.7.1": 4, "550 5.1.1": 1}
    assert snapshot.rejections_by_reason == {
        ("550 5.7.1", "not_aligned"): 3,
        ("550 5.7.1", "redirect_unproven"): 1,
        ("550 5.1.1", ""): 1,
    }
