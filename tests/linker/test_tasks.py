"""The ``link_inbound`` actor on a real dramatiq worker (in-process broker); the queue around it is tested in
tests/mailassist/test_queue.py."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import structlog
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import event

from linker.directory import MemoryDirectory
from linker.settings import LinkerSettings
from linker.tasks import Outcome, Processor, QueueSettings, build_actor, linker_pipeline
from mailassist.logs import configure_logging
from store import InboundView, Store

FAST = QueueSettings(max_attempts=3, min_backoff=0.01, max_backoff=0.05, sweep_interval=0.1, sweep_grace=60)


def add(store: Store, n: int = 1) -> list[str]:
    return [
        store.receipts.add_inbound(
            f"Subject: {i}\r\n\r\nbody {i}\r\n".encode(), mail_from="a@example.com", rcpt_tos=["x@y.z"]
        ).id
        for i in range(n)
    ]


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_processes_a_queued_receipt_once(store: Store) -> None:
    (inbound_id,) = add(store)
    calls: list[str] = []

    def pipeline(inbound: InboundView, raw: bytes) -> Outcome:
        calls.append(inbound.id)
        assert raw.startswith(b"Subject: 0")
        return Outcome("linked", "test")

    processor = Processor(store, FAST, pipeline)
    processor.process(inbound_id)
    processor.process(inbound_id)  # a duplicate wake-up
    row = store.receipts.get_inbound(inbound_id)
    assert row is not None
    assert (row.status, row.reason) == ("linked", "test")
    assert row.processed_at is not None
    assert calls == [inbound_id]


def test_the_real_pipeline_looks_up_inside_the_processors_reading_scope(sqlite_store: Store) -> None:
    (inbound_id,) = add(sqlite_store)
    scopes: list[str] = []
    inside = [False]

    class Counting(MemoryDirectory):
        def find_users_by_addresses(self, addresses: object) -> dict[str, object]:  # type: ignore[override]
            scopes.append("lookup" if inside[0] else "lookup outside")
            return {}

    @contextmanager
    def reading() -> Iterator[None]:
        scopes.append("open")
        inside[0] = True
        yield
        inside[0] = False
        scopes.append("close")

    # Given the real pipeline, run by the processor over a store whose reading scope is watched
    sqlite_store.reading = reading  # type: ignore[method-assign]
    processor = Processor(sqlite_store, FAST, linker_pipeline(LinkerSettings.build(), Counting()))
    # When it plans a message
    processor.process(inbound_id)
    # Then its lookups ran inside one scope (no user: the message is refused, as without a scope)
    assert scopes[0] == "open" and scopes[-1] == "close" and scopes.count("open") == 1, scopes
    assert "lookup" in scopes and "lookup outside" not in scopes
    row = sqlite_store.receipts.get_inbound(inbound_id)
    assert row is not None and row.status == "failed"


def test_a_message_reads_on_one_connection_and_writes_on_another(store: Store) -> None:
    (inbound_id,) = add(store)
    checkouts: list[str] = []
    for engine in {store.engine, store.database.linking_engine}:
        event.listen(engine, "checkout", lambda *_: checkouts.append("checkout"))

    def pipeline(inbound: InboundView, raw: bytes) -> Outcome:
        checkouts.append("pipeline")
        # The store's lookups from inside the pipeline reuse the processor's read connection.
        assert store.directory.find_users_by_addresses(["a@example.com"]) == {}
        return Outcome("linked", "test")

    # When a receipt is processed
    Processor(store, FAST, pipeline).process(inbound_id)
    # Then the receipt, its raw bytes and the lookups took one pool checkout, the final write one more
    # (each checkout costs a ping and a rollback: on PostgreSQL, more than a small query)
    assert checkouts == ["checkout", "pipeline", "checkout"], checkouts
    row = store.receipts.get_inbound(inbound_id)
    assert row is not None and row.status == "linked"


def test_mark_processed_is_conditional(store: Store) -> None:
    (inbound_id,) = add(store)
    assert store.receipts.mark_processed(inbound_id, "linked") is True
    assert store.receipts.mark_processed(inbound_id, "ignored", reason="late") is False
    row = store.receipts.get_inbound(inbound_id)
    assert row is not None and row.status == "linked"


def test_ignored_outcome_keeps_its_reason(sqlite_store: Store) -> None:
    (inbound_id,) = add(sqlite_store)
    Processor(sqlite_store, FAST, lambda i, r: Outcome("ignored", "rule newsletters")).process(inbound_id)
    row = sqlite_store.receipts.get_inbound(inbound_id)
    assert row is not None and (row.status, row.reason) == ("ignored", "rule newsletters")


def test_transient_failure_retries_with_backoff_then_succeeds(sqlite_store: Store, worker_for: Callable) -> None:
    (inbound_id,) = add(sqlite_store)
    attempts: list[float] = []

    def flaky(inbound: InboundView, raw: bytes) -> Outcome:
        attempts.append(time.monotonic())
        if len(attempts) < 2:
            raise TimeoutError("directory lookup timed out")
        return Outcome("linked")

    broker = StubBroker()
    actor = build_actor(broker, Processor(sqlite_store, FAST, flaky))
    worker_for(broker)
    actor.send(inbound_id)
    wait_for(lambda: (r := sqlite_store.receipts.get_inbound(inbound_id)) is not None and r.status == "linked")
    row = sqlite_store.receipts.get_inbound(inbound_id)
    assert row is not None
    assert row.attempts == 1
    assert row.last_error == "TimeoutError: directory lookup timed out"
    assert len(attempts) == 2


def test_failure_after_the_last_attempt_marks_failed_with_the_error(sqlite_store: Store, worker_for: Callable) -> None:
    (inbound_id,) = add(sqlite_store)
    calls: list[int] = []

    def broken(inbound: InboundView, raw: bytes) -> Outcome:
        calls.append(1)
        raise ValueError("cannot decode header")

    broker = StubBroker()
    actor = build_actor(broker, Processor(sqlite_store, FAST, broken))
    worker = worker_for(broker)
    actor.send(inbound_id)
    # Every attempt, retries included, has run once the queue (and its delay queue) is empty and the worker idle
    broker.join(actor.queue_name, timeout=10_000, fail_fast=True)
    worker.join()
    row = sqlite_store.receipts.get_inbound(inbound_id)
    assert row is not None
    assert row.attempts == FAST.max_attempts == len(calls)
    assert row.last_error == "ValueError: cannot decode header"
    # A failed receipt can be put back for reprocessing
    assert sqlite_store.receipts.mark_requeued(inbound_id)
    row = sqlite_store.receipts.get_inbound(inbound_id)
    assert row is not None and (row.status, row.attempts) == ("queued", 0)


def _mime_nested(depth: int) -> bytes:
    """A multipart nested ``depth`` levels deep: flanker calls it malformed, the stdlib runs out of recursion."""
    parts = b"".join(b"Content-Type: multipart/mixed; boundary=B%d\r\n\r\n--B%d\r\n" % (i, i) for i in range(depth))
    return b"From: Anna Nowak <anna.nowak@example.com>\r\nSubject: Oferta\r\n" + parts + b"\r\nx\r\n"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        pytest.param(
            _mime_nested(3000),
            "UnreadableMessageError: flanker: DecodingError: Malformed MIME message; "
            "email: RecursionError: maximum recursion depth exceeded",
            id="neither-parser",
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 4,
            "UnreadableMessageError: no header and not text",
            id="binary",
        ),
    ],
)
def test_unreadable_mail_fails_once_with_its_reason_and_the_worker_goes_on(
    sqlite_store: Store, worker_for: Callable, raw: bytes, error: str
) -> None:
    # Given an unreadable receipt and a readable one after it, on a worker running the real pipeline
    unreadable = sqlite_store.receipts.add_inbound(
        raw, mail_from="anna.nowak@example.com", rcpt_tos=["assistant@crm.test"]
    ).id
    (readable,) = add(sqlite_store)
    real = linker_pipeline(LinkerSettings.build(), MemoryDirectory())
    calls: list[str] = []

    def counted(inbound: InboundView, raw: bytes) -> Outcome:
        calls.append(inbound.id)
        return real(inbound, raw)

    broker = StubBroker()
    actor = build_actor(broker, Processor(sqlite_store, FAST, counted))
    worker = worker_for(broker)
    # When both are sent, and every attempt (a retry that must not come included) has run
    actor.send(unreadable)
    actor.send(readable)
    broker.join(actor.queue_name, timeout=10_000, fail_fast=True)
    worker.join()
    # Then the unreadable one failed after ONE attempt, with the parser's reason, and its raw bytes are kept
    row = sqlite_store.receipts.get_inbound(unreadable)
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, error)
    assert row.processed_at is not None
    assert calls.count(unreadable) == 1
    assert sqlite_store.content.get_blob(row.sha256) == raw
    # And the worker went on to the next receipt (no user: refused, for its own reason)
    after = sqlite_store.receipts.get_inbound(readable)
    assert after is not None
    assert (after.status, after.last_error) == ("failed", "no registered user sent or received this message")
    assert calls.count(readable) == 1


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Route all logging to a buffer as JSON lines, at debug level, for the duration of a test."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in ("dramatiq",)})
    buffer = io.StringIO()
    configure_logging("info", "json", stream=buffer)
    logging.getLogger("dramatiq").setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
        structlog.reset_defaults()


def test_every_log_line_about_a_message_carries_its_inbound_id(
    sqlite_store: Store, worker_for: Callable, json_log: io.StringIO
) -> None:
    (inbound_id,) = add(sqlite_store)
    calls: list[int] = []

    def flaky(inbound: InboundView, raw: bytes) -> Outcome:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("slow directory")
        return Outcome("linked")

    broker = StubBroker()
    actor = build_actor(broker, Processor(sqlite_store, FAST, flaky))
    worker = worker_for(broker)
    actor.send(inbound_id)
    broker.join(actor.queue_name, timeout=10_000, fail_fast=True)
    worker.join()
    events = [json.loads(line) for line in json_log.getvalue().splitlines()]
    about_message = [e for e in events if e["event"].startswith(("inbound", "Retrying message"))]
    assert {e["event"] for e in about_message} >= {
        "inbound attempt failed; will retry",
        "inbound linked",
    }
    assert any(e["event"].startswith("Retrying message") for e in about_message)
    assert all(e.get("inbound_id") == inbound_id for e in about_message), about_message
    # one event per line, each a JSON object with a timestamp and level
    assert all({"timestamp", "level", "event"} <= e.keys() for e in events)
