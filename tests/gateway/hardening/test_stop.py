"""A gateway stop under load: open connections and waiting DATA get 421 4.3.2 for new mail."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

from store import InboundView, Store, StoreError
from store.staged import StagedInbound
from tests.gateway.conftest import ASSISTANT, Running
from tests.gateway.hardening.support import USER, Raw, add_user, message, reasons, wait_for


class _HeldReceipts:
    """The receipts group, but a DATA command is held inside storage until ``release`` is set."""

    def __init__(self, inner: Any, entered: threading.Event, release: threading.Event) -> None:
        self.inner = inner
        self.entered = entered
        self.release = release

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> Sequence[InboundView | StoreError]:
        self.entered.set()
        assert self.release.wait(10)
        return self.inner.add_inbound_batch(batch)


class _HeldStore:
    """The store, but a DATA command is held inside storage until ``release`` is set."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()
        self.receipts = _HeldReceipts(inner.receipts, self.entered, self.release)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_open_connections_get_421_432_for_new_mail_once_stop_begins(
    sqlite_store: Store, run_gateway: Any, refusals: Callable[[Running], list[tuple[str, str]]]
) -> None:
    # Given a message being stored (the stop waits for it), an idle session and one between MAIL and RCPT
    add_user(sqlite_store)
    held = _HeldStore(sqlite_store)
    gw = run_gateway(held)
    seen = refusals(gw)
    in_data = Raw(gw.port)
    idle = Raw(gw.port)
    midway = Raw(gw.port)
    try:
        in_data.envelope()
        assert in_data.command("DATA").startswith("354")
        in_data.sock.sendall(message() + b".\r\n")
        assert held.entered.wait(10)
        assert idle.reply().startswith("220")
        assert idle.command("EHLO client.test").startswith("250")
        assert midway.reply().startswith("220")
        assert midway.command("HELO client.test").startswith("250")
        assert midway.command(f"MAIL FROM:<{USER}>").startswith("250")
        # When the stop begins
        stopping = asyncio.run_coroutine_threadsafe(gw.server.stop(), gw.loop)
        assert wait_for(lambda: gw.server.stopping)
        # Then new mail on open connections is refused with 421 4.3.2, and they are closed
        assert idle.command(f"MAIL FROM:<{USER}>").startswith("421 4.3.2 ")
        assert idle.closed()
        assert midway.command(f"RCPT TO:<{ASSISTANT}>").startswith("421 4.3.2 ")
        assert midway.closed()
        assert reasons(seen) == ["shutting_down"] * 2
        # And the message in DATA still gets its 250
        assert not stopping.done()
        held.release.set()
        assert in_data.reply().startswith("250 2.0.0 ")
        stopping.result(10)
    finally:
        held.release.set()
        for raw in (in_data, idle, midway):
            raw.close()
    assert len(sqlite_store.receipts.list_inbound()) == 1


def test_a_data_still_waiting_for_its_slot_when_stop_begins_gets_421_432(
    sqlite_store: Store, run_gateway: Any, refusals: Callable[[Running], list[tuple[str, str]]]
) -> None:
    # Given the only DATA slot taken by a message being stored, and a second DATA waiting for it
    add_user(sqlite_store)
    held = _HeldStore(sqlite_store)
    gw = run_gateway(held, settings={"max_concurrent_data": 1})
    seen = refusals(gw)
    first, second = Raw(gw.port), Raw(gw.port)
    try:
        first.envelope()
        assert first.command("DATA").startswith("354")
        first.sock.sendall(message() + b".\r\n")
        assert held.entered.wait(10)
        second.envelope()
        second.sock.sendall(b"DATA\r\n")
        assert wait_for(lambda: gw.server._in_data == 2)
        # When the stop begins and the slot then frees up
        stopping = asyncio.run_coroutine_threadsafe(gw.server.stop(), gw.loop)
        assert wait_for(lambda: gw.server.stopping)
        held.release.set()
        # Then the first message is taken, and the second is not started
        assert first.reply().startswith("250 2.0.0 ")
        assert second.reply().startswith("421 4.3.2 ")
        stopping.result(10)
        assert reasons(seen) == ["shutting_down"]
    finally:
        held.release.set()
        first.close()
        second.close()
