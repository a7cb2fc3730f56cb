"""The storage process: batches go to a forked child and come back one outcome each; a dead child costs the batch
in flight a 451 and the gateway stores on threads from then on; a stop lets the child finish its sends. Then the
gateway with one, over real SMTP."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from gateway.intake import ProcessStorage, ThreadStorage
from gateway.storage import StorageProcess, StorageProcessError
from store import Store, StoreUnavailableError
from tests.gateway.smtp_support import USER, add_user, message, send
from tests.support import wait_until


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("held a lock")
        self.lock = threading.Lock()


def commit(items: Sequence[Any]) -> list[Any]:
    """The child's work in these tests: its pid with each item, or what an item asks for."""
    out: list[Any] = []
    for item in items:
        if item == "die":
            os._exit(3)
        if item == "raise":
            raise ValueError("the whole batch failed")
        out.append(Unpicklable() if item == "unpicklable" else (os.getpid(), item))
    return out


def storage(tmp_path: Path, work: Callable[[Sequence[Any]], list[Any]] = commit) -> StorageProcess[Any, Any]:
    def after_fork() -> None:
        (tmp_path / f"started-{os.getpid()}").touch()

    def after_answer() -> None:
        with (tmp_path / f"answered-{os.getpid()}").open("a") as out:
            out.write("answered\n")

    def before_exit() -> None:
        (tmp_path / f"stopped-{os.getpid()}").touch()

    return StorageProcess(work, after_fork=after_fork, after_answer=after_answer, before_exit=before_exit)


def test_a_batch_is_committed_in_a_child_and_answered_item_by_item(tmp_path: Path) -> None:
    process = storage(tmp_path)
    process.start()

    async def batches() -> tuple[Any, Any]:
        try:
            return await process.run(["a", "b"]), await process.run(["c"])
        finally:
            assert await process.stop(10)

    first, second = asyncio.run(batches())
    # Stopped: a late batch is refused here (no new child forked), for the gateway to store on threads
    with pytest.raises(StorageProcessError, match="stopped"):
        asyncio.run(process.run(["late"]))
    assert process.pid is None
    child = first[0][0]
    assert child != os.getpid()
    assert first == [(child, "a"), (child, "b")]
    assert second == [(child, "c")]
    # It ran its hooks, in itself: at start, after each answer, and at exit
    assert (tmp_path / f"started-{child}").exists()
    assert (tmp_path / f"answered-{child}").read_text().split() == ["answered"] * 2
    assert (tmp_path / f"stopped-{child}").exists()


def test_errors_come_back_as_errors_even_when_they_do_not_pickle(tmp_path: Path) -> None:
    process = storage(tmp_path)

    async def batches() -> Any:
        try:
            with pytest.raises(ValueError, match="the whole batch failed"):
                await process.run(["raise"])  # no start(): the first batch starts the child
            return await process.run(["x", "unpicklable"])
        finally:
            await process.stop(10)

    ok, bad = asyncio.run(batches())
    assert ok[1] == "x"
    assert isinstance(bad, StoreUnavailableError)
    assert "Unpicklable: held a lock" in str(bad)


@pytest.mark.parametrize("when", ["storing", "idle"])
def test_a_child_that_dies_is_lost_for_good(tmp_path: Path, when: str) -> None:
    process = storage(tmp_path)
    process.start()

    async def batches() -> None:
        ((child, _),) = await process.run(["a"])
        if when == "storing":
            with pytest.raises(StorageProcessError, match="while storing"):
                await process.run(["b", "die"])
        else:  # found before the batch is sent
            os.kill(child, signal.SIGKILL)
            await asyncio.sleep(0.2)
            with pytest.raises(StorageProcessError, match=r"lost$"):
                await process.run(["b"])
        # No new child is forked from a process that serves (it would inherit every connection)
        with pytest.raises(StorageProcessError):
            await process.run(["c"])
        assert process.pid is None
        with pytest.raises(ChildProcessError):  # reaped
            os.waitpid(child, os.WNOHANG)
        assert await process.stop(1)

    asyncio.run(batches())


def test_a_child_that_outlives_the_grace_is_killed(tmp_path: Path) -> None:
    def slow(items: Sequence[Any]) -> list[Any]:
        time.sleep(30)
        return list(items)

    process = storage(tmp_path, slow)
    process.start()
    pid = process.pid
    assert pid is not None

    async def send_and_stop() -> bool:
        batch = asyncio.ensure_future(process.run(["a"]))
        await asyncio.sleep(0.3)
        stopped = await process.stop(0.5)
        batch.cancel()
        return stopped

    started = time.monotonic()
    assert asyncio.run(send_and_stop()) is False
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_child_ends_when_the_smtp_process_is_gone(tmp_path: Path) -> None:
    # The SMTP process killed (no stop): its end of the socket closes, and the child ends on its own
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:  # stands in for the SMTP process
        os.close(read)
        process = storage(tmp_path)
        process.start()
        os.write(write, str(process.pid).encode())
        os.kill(os.getpid(), signal.SIGKILL)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = int(pipe.read())
    os.waitpid(middle, 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (tmp_path / f"stopped-{child}").exists():
        time.sleep(0.05)
    assert (tmp_path / f"stopped-{child}").exists()


# --- the gateway with a storage process -------------------------------------------------------------------


def enqueue_to(path: Path) -> Callable[[Sequence[str]], None]:
    """What the storage process sends to the queue, where the test can read it (a file: another process)."""

    def enqueue(ids: Sequence[str]) -> None:
        with path.open("a") as out:
            out.write("".join(f"{os.getpid()} {i}\n" for i in ids))

    return enqueue


def queued_id(reply: str) -> str:
    return reply.rsplit(" ", 1)[-1]


def test_the_gateway_stores_in_its_storage_process_then_on_threads_once_it_is_lost(
    sqlite_store: Store, run_gateway: Any, tmp_path: Path
) -> None:
    add_user(sqlite_store, USER)
    sqlite_store.inline_max = 1024
    sent = tmp_path / "sent"
    running = run_gateway(sqlite_store, enqueue=enqueue_to(sent), storage_process=True)
    storage = running.server.handler.intake.storage
    assert isinstance(storage, ProcessStorage)
    child = storage.process.pid
    assert child is not None and child != os.getpid()
    # A small message (staged and committed in the child) and one over inline_max (its blob written here first)
    small, big = message(), message(body="x" * 4000)
    code, reply = send(running, small)
    assert code == 250
    code, big_reply = send(running, big)
    assert code == 250
    for raw, text in ((small, reply), (big, big_reply)):
        row = sqlite_store.receipts.get_inbound(queued_id(text))
        assert row is not None and row.status == "queued"
        assert sqlite_store.content.get_blob(row.sha256) == raw
    assert sqlite_store.blobs.exists(sqlite_store.receipts.get_inbound(queued_id(big_reply)).sha256)  # type: ignore[union-attr]
    # The child sends its wake-ups after the 250 (a lost one costs only the sweeper's delay): let it send both,
    # so that the kill below lands while it is idle, not between a reply and its wake-up
    assert wait_until(lambda: sent.exists() and len(sent.read_text().split()) == 4, timeout=10)
    # The child died while idle: the next message is stored on threads here, and still gets its 250
    os.kill(child, signal.SIGKILL)
    time.sleep(0.2)
    code, after = send(running, message())
    assert code == 250
    assert isinstance(running.server.handler.intake.storage, ThreadStorage)
    row = sqlite_store.receipts.get_inbound(queued_id(after))
    assert row is not None and row.status == "queued"
    # A stop waits for the last wake-ups; each was sent by the process that committed it
    running.stop()
    lines = sent.read_text().split()
    assert lines[1::2] == [queued_id(reply), queued_id(big_reply), queued_id(after)]
    assert [int(pid) for pid in lines[0::2]] == [child, child, os.getpid()]


def test_the_gateway_answers_451_when_its_storage_process_dies_mid_batch(
    sqlite_store: Store, run_gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(sqlite_store, USER)
    # The child dies in the middle of a commit (as on an out-of-memory kill): nothing was committed
    real = sqlite_store.receipts.add_inbound_batch
    monkeypatch.setattr(sqlite_store.receipts, "add_inbound_batch", lambda batch: os._exit(9))
    running = run_gateway(sqlite_store, enqueue=enqueue_to(tmp_path / "sent"), storage_process=True)
    monkeypatch.setattr(sqlite_store.receipts, "add_inbound_batch", real)  # the SMTP process's own store works
    code, reply = send(running, message())
    assert code == 451, reply
    assert sqlite_store.receipts.count_inbound_by_status().get("queued", 0) == 0
    # The sender's retry is stored on threads
    code, reply = send(running, message())
    assert code == 250, reply
    assert sqlite_store.receipts.count_inbound_by_status()["queued"] == 1
