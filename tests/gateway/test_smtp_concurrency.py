"""The gateway over real loopback SMTP under concurrency: stop, group commit and DATA slots."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from store import InboundView, Store, StoreError
from store.staged import StagedInbound
from tests.gateway.conftest import ASSISTANT
from tests.gateway.smtp_support import USER, HeldStore, add_user, message, send


def test_stop_lets_data_in_flight_finish_and_refuses_new_connections(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    held = HeldStore(sqlite_store)
    gw = run_gateway(held)
    replies: list[tuple[int, str]] = []
    sender = threading.Thread(target=lambda: replies.append(send(gw, message())))
    sender.start()
    assert held.entered.wait(10)
    # When SIGTERM arrives mid-DATA
    stopping = asyncio.run_coroutine_threadsafe(gw.server.stop(), gw.loop)
    time.sleep(0.2)
    # Then no new session starts
    with (
        pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError, smtplib.SMTPConnectError)),
        gw.client() as c,
    ):
        c.noop()
    # And the message being stored still gets its 250
    held.release.set()
    sender.join(10)
    stopping.result(10)
    assert replies and replies[0][0] == 250
    assert sqlite_store.receipts.get_inbound(replies[0][1].rsplit(" ", 1)[1]) is not None


class _GatheringStore(HeldStore):
    """Holds the first group commit until the other messages wait behind it, and records every batch."""

    def __init__(self, inner: Store, wanted: int) -> None:
        super().__init__(inner)
        self.wanted = wanted
        self.batches: list[int] = []
        #: Reads how many messages wait for the committer (set once the gateway runs).
        self.waiting: Callable[[], int] | None = None

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> list[InboundView | StoreError]:
        if not self.batches:
            # Hold the first commit until the others queue behind it.
            deadline = time.monotonic() + 10
            while (
                self.waiting is not None and self.waiting() < self.wanted - len(batch) and time.monotonic() < deadline
            ):
                time.sleep(0.01)
            self.release.set()
        self.batches.append(len(batch))
        return super().add_inbound_batch(batch)


def test_concurrent_sessions_share_a_group_commit_and_all_get_250(store: Store, run_gateway: Any) -> None:
    # Given six senders at once, and a first commit that waits until all six messages are staged
    add_user(store, USER)
    gathering = _GatheringStore(store, wanted=6)
    gw = run_gateway(gathering)
    gathering.waiting = lambda: gw.server.handler.intake.committer.waiting
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: send(gw, message()), range(6)))
    # Then every one hears 250 with its own receipt, which is committed with its blob
    assert [code for code, _ in replies] == [250] * 6
    ids = {text.rsplit(" ", 1)[1] for _, text in replies}
    assert len(ids) == 6
    assert {v.id for v in store.receipts.list_inbound()} == ids
    for inbound_id in ids:
        row = store.receipts.get_inbound(inbound_id)
        assert row is not None and store.content.get_blob(row.sha256) is not None
    # And all that arrived during the first commit went in together, in one second batch
    assert sum(gathering.batches) == 6
    assert len(gathering.batches) <= 2


def test_a_failing_batch_gives_451_to_each_session_and_writes_no_row(store: Store, run_gateway: Any) -> None:
    add_user(store, USER)
    gathering = _GatheringStore(store, wanted=4)
    gw = run_gateway(gathering)
    gathering.waiting = lambda: gw.server.handler.intake.committer.waiting
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE inbound RENAME TO inbound_gone")
    try:
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: send(gw, message()), range(4)))
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE inbound_gone RENAME TO inbound")
    assert [(code, text[:5]) for code, text in replies] == [(451, "4.3.0")] * 4
    assert store.receipts.list_inbound() == []


def test_data_beyond_max_concurrent_data_waits_for_a_slot(sqlite_store: Store, run_gateway: Any) -> None:
    # Given one DATA slot, taken by a message held in storage
    add_user(sqlite_store, USER)
    held = HeldStore(sqlite_store)
    gw = run_gateway(held, settings={"max_concurrent_data": 1})
    replies: list[tuple[int, str]] = []
    first = threading.Thread(target=lambda: replies.append(send(gw, message())))
    first.start()
    assert held.entered.wait(10)
    # When a second client says DATA
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        lines = sock.makefile("rb")
        assert lines.readline().startswith(b"220")
        sock.sendall(f"HELO second.test\r\nMAIL FROM:<{USER}>\r\nRCPT TO:<{ASSISTANT}>\r\n".encode())
        assert [lines.readline()[:3] for _ in range(3)] == [b"250"] * 3
        sock.sendall(b"DATA\r\n")
        # Then it hears nothing (no 354) while the slot is busy
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1, socket.MSG_PEEK)
        # And gets its 354 once the first message is stored
        sock.settimeout(10)
        held.release.set()
        assert lines.readline().startswith(b"354")
        sock.sendall(message() + b".\r\n")
        assert lines.readline().startswith(b"250")
    first.join(10)
    assert replies[0][0] == 250


def test_data_slot_wait_ends_in_451(sqlite_store: Store, run_gateway: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.session.DATA_SLOT_WAIT", 0.3)
    add_user(sqlite_store, USER)
    held = HeldStore(sqlite_store)
    gw = run_gateway(held, settings={"max_concurrent_data": 1})
    first = threading.Thread(target=lambda: send(gw, message()))
    first.start()
    assert held.entered.wait(10)
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(gw, message())
        assert refused.value.smtp_code == 451
        assert refused.value.smtp_error.startswith(b"4.3.2")
    finally:
        held.release.set()
        first.join(10)
