"""The gateway's defences against DATA that stalls or trickles, and slow clients holding DATA slots.

Clients on 127.0.0.2 stand for a second host (all of 127/8 is loopback)."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest

from store import Store
from tests.gateway.conftest import ASSISTANT, Running
from tests.gateway.hardening.support import COUNTED, USER, Raw, add_user, message, reasons, trickle, wait_for


def test_stalled_data_is_cut_off_by_the_inactivity_timeout(
    sqlite_store: Store, run_gateway: Any, refusals: Callable[[Running], list[tuple[str, str]]]
) -> None:
    add_user(sqlite_store)
    gw = run_gateway(sqlite_store, settings={"data_timeout": 0.5, "min_data_rate": 0})
    seen = refusals(gw)
    raw = Raw(gw.port)
    try:
        raw.envelope()
        assert raw.command("DATA").startswith("354")
        started = time.monotonic()
        # Given a client that sends some of its message, then nothing
        raw.sock.sendall(b"Subject: half a message\r\n")
        time.sleep(0.25)
        raw.sock.sendall(b"X-More: still here\r\n")
        # Then it hears 421 4.4.2 once no byte came for data_timeout, and is hung up on
        reply = raw.reply()
        waited = time.monotonic() - started
    finally:
        raw.close()
    assert reply.startswith("421 4.4.2 ") and "Timeout" in reply
    assert 0.6 <= waited < 3  # the second write put the deadline off
    assert reasons(seen) == ["data_timeout"]
    assert sqlite_store.receipts.list_inbound() == []
    assert wait_for(lambda: not gw.server.sessions and gw.server._in_data == 0)


def test_trickling_data_is_cut_off_by_the_minimum_rate_and_a_fast_one_is_not(
    sqlite_store: Store, run_gateway: Any, refusals: Callable[[Running], list[tuple[str, str]]]
) -> None:
    add_user(sqlite_store)
    settings = {"data_timeout": 10, "min_data_rate": 200, "min_data_rate_grace": 0.5}
    gw = run_gateway(sqlite_store, settings=settings)
    seen = refusals(gw)
    raw = Raw(gw.port)
    try:
        raw.envelope()
        assert raw.command("DATA").startswith("354")
        started = time.monotonic()
        # Given a client sending 20 bytes a second: never silent for data_timeout, but far under the rate
        reply = trickle(raw, 0.05, threading.Event())
        waited = time.monotonic() - started
    finally:
        raw.close()
    assert reply.startswith("421 4.4.2 ") and "too slowly" in reply
    assert 0.5 <= waited < 3
    assert reasons(seen) == ["data_too_slow"]
    # A client that sends its message at once is well over the rate
    with gw.client() as c:
        c.ehlo("client.test")
        c.mail(USER)
        c.rcpt(ASSISTANT)
        assert c.data(message(body="y" * 20_000))[0] == 250


class SlowClients:
    """``count`` clients from 127.0.0.1 that say DATA and then trickle one byte every 0.2 s once they get their 354;
    ``answers[i]``: the reply that ended client ``i``. ``close`` hangs them all up."""

    def __init__(self, port: int, count: int) -> None:
        self.until = threading.Event()
        self.clients = [Raw(port) for _ in range(count)]
        self.answers: list[Future[str]] = [Future() for _ in range(count)]
        self.threads = [
            threading.Thread(target=self._run, args=(raw, answer), daemon=True)
            for raw, answer in zip(self.clients, self.answers, strict=True)
        ]
        for raw, thread in zip(self.clients, self.threads, strict=True):
            raw.envelope()
            raw.sock.sendall(b"DATA\r\n")
            thread.start()

    def _run(self, raw: Raw, answer: Future[str]) -> None:
        try:
            answer.set_result(trickle(raw, 0.2, self.until) if raw.reply().startswith("354") else "")
        except (OSError, ValueError) as exc:  # closed under it by ``close``
            answer.set_result(repr(exc))

    def ended(self) -> int:
        return sum(answer.done() for answer in self.answers)

    def close(self) -> None:
        self.until.set()
        for raw in self.clients:
            with contextlib.suppress(OSError):
                raw.sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(10)
        for raw in self.clients:
            raw.close()


def test_a_real_client_gets_its_354_promptly_while_8_slow_clients_hold_data_slots(
    sqlite_store: Store, run_gateway: Any, refusals: Callable[[Running], list[tuple[str, str]]]
) -> None:
    # Given 8 DATA slots, all taken by clients sending 5 bytes a second, and a minimum rate of 100
    add_user(sqlite_store)
    settings = {"max_concurrent_data": 8, "data_timeout": 10, "min_data_rate": 100, "min_data_rate_grace": 0.5}
    gw = run_gateway(sqlite_store, settings=settings)
    seen = refusals(gw)
    slow = SlowClients(gw.port, 8)
    try:
        assert wait_for(gw.server.data_slots.locked)
        # When a real client says DATA
        with gw.client() as c:
            c.ehlo("client.test")
            c.mail(USER)
            c.rcpt(ASSISTANT)
            started = time.monotonic()
            c.putcmd("data")
            code, _ = c.getreply()
            waited = time.monotonic() - started
            # Then it gets its 354 as soon as the first slow client falls under the rate, and its mail goes in
            assert code == 354
            assert waited < 3
            c.send(message() + b".\r\n")
            assert c.getreply()[0] == 250
        # And the slow ones were cut off with 421 4.4.2
        answers = [answer.result(10) for answer in slow.answers]
        assert all(a.startswith("421 4.4.2 ") for a in answers), answers
        assert reasons(seen) == ["data_too_slow"] * 8
    finally:
        slow.close()


def test_one_host_cannot_take_every_data_slot(
    sqlite_store: Store, run_gateway: Any, refusals: Callable[[Running], list[tuple[str, str]]]
) -> None:
    # Given 8 clients of one host in DATA, sending one byte every 0.2 s, no rate check, 2 DATA slots per host
    add_user(sqlite_store)
    settings = {"max_concurrent_data": 8, "max_data_per_ip": 2, "min_data_rate": 0, **COUNTED}
    gw = run_gateway(sqlite_store, settings=settings)
    slow = SlowClients(gw.port, 8)
    try:
        assert wait_for(lambda: gw.server._in_data == 8)
        # When a client of another host says DATA
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=10, source_address=("127.0.0.2", 0)) as c:
            c.ehlo("client.test")
            c.mail(USER)
            c.rcpt(ASSISTANT)
            started = time.monotonic()
            c.putcmd("data")
            code, _ = c.getreply()
            # Then it gets its 354 at once: the first host holds only 2 slots, the other 6 wait for one of them
            assert (code, time.monotonic() - started < 1) == (354, True)
            c.send(message() + b".\r\n")
            assert c.getreply()[0] == 250
        assert gw.server._in_data == 8
        assert slow.ended() == 0
    finally:
        slow.close()
    assert wait_for(lambda: gw.server._in_data == 0)


def test_data_slot_of_a_busy_host_ends_in_451_471(
    sqlite_store: Store,
    run_gateway: Any,
    refusals: Callable[[Running], list[tuple[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gateway.session.DATA_SLOT_WAIT", 0.3)
    add_user(sqlite_store)
    gw = run_gateway(sqlite_store, settings={"max_data_per_ip": 1, "min_data_rate": 0, **COUNTED})
    seen = refusals(gw)
    slow = SlowClients(gw.port, 1)
    second = Raw(gw.port)
    try:
        assert wait_for(lambda: gw.server._in_data == 1)
        second.envelope()
        reply = second.command("DATA")
        assert reply.startswith("451 4.7.1 ") and "127.0.0.1" in reply
        assert reasons(seen) == ["peer_data"]
        # The connection stays usable
        assert second.command("RSET").startswith("250")
    finally:
        second.close()
        slow.close()
