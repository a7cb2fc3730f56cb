"""The gateway's defences over real loopback SMTP: STARTTLS, slow and stalled DATA, limits per client address, a
stop under load and oversize mail. Clients on 127.0.0.2 stand for a second host (all of 127/8 is loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import select
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import pytest
import trustme
from sqlalchemy.orm import Session

from store import InboundView, Store, StoreError
from store.models import User, UserAddress
from store.staged import StagedInbound
from tests.gateway.conftest import ASSISTANT, Running

USER = "anna.nowak@example.com"
#: The per-address limits apply to loopback too in these tests (by default it is exempt).
COUNTED = {"per_ip_exempt": ()}


def add_user(store: Store, email: str = USER) -> None:
    with Session(store.engine) as s, s.begin():
        user = User(email=email, name="Anna Nowak", role="all")
        user.addresses = [UserAddress(address=email, is_primary=True)]
        s.add(user)


def message(body: str = "Hi") -> bytes:
    return (
        f"From: {USER}\r\nTo: jan@acme-logistics.pl\r\nSubject: Fleet renewal OP-123\r\n"
        f"Message-ID: <{time.monotonic_ns()}@example.com>\r\n\r\n{body}\r\n"
    ).encode()


class Raw:
    """An SMTP client on a plain socket, for what smtplib cannot do: stall or trickle in DATA, come from
    127.0.0.2, read a reply without sending anything."""

    def __init__(self, port: int, *, source: str = "127.0.0.1", timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.lines = self.sock.makefile("rb")

    def reply(self) -> str:
        """The last line of the next reply ("" once the server has hung up)."""
        while True:
            line = self.lines.readline()
            if not line or line[3:4] != b"-":
                return line.decode().rstrip("\r\n")

    def command(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def envelope(self) -> None:
        """Greeting, HELO, MAIL and RCPT, each answered 2xx."""
        assert self.reply().startswith("220")
        assert self.command("HELO client.test").startswith("250")
        assert self.command(f"MAIL FROM:<{USER}>").startswith("250")
        assert self.command(f"RCPT TO:<{ASSISTANT}>").startswith("250")

    def closed(self) -> bool:
        """Whether the server has closed the connection (waits up to the socket timeout)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionError:
            return True

    def close(self) -> None:
        self.lines.close()
        self.sock.close()


def trickle(raw: Raw, interval: float, until: threading.Event) -> str:
    """Send one byte of message data every ``interval`` seconds until the server answers (its reply line, or
    "" when it hung up) or ``until`` is set ("")."""
    while not until.is_set():
        try:
            raw.sock.sendall(b"x")
        except OSError:
            return ""
        readable, _, _ = select.select([raw.sock], [], [], interval)
        if readable:
            return raw.reply()
    return ""


@pytest.fixture
def refusals(run_gateway: Any) -> Callable[[Running], list[tuple[str, str]]]:
    """``watch(gw)``: from then on, the ``(reply, reason)`` of every refusal the gateway counts."""

    def watch(gw: Running) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        handler = gw.server.handler
        count = handler.count_refusal

        def spy(reply: str, reason: str) -> None:
            seen.append((reply, reason))
            count(reply, reason)

        handler.count_refusal = spy  # type: ignore[method-assign]
        return seen

    return watch


def reasons(seen: list[tuple[str, str]]) -> list[str]:
    return [reason for _reply, reason in seen]


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 from a test CA, and a client context trusting it."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("mx.test", "127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


# STARTTLS


def test_starttls_then_mail_is_accepted_and_stored_intact(
    sqlite_store: Store, run_gateway: Any, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    add_user(sqlite_store)
    server_context, client_context = tls
    gw = run_gateway(sqlite_store, settings={"tls_context": server_context})
    # Lines that start with a dot, and more than one TLS record of message
    raw = message(body="\r\n".join(f".line {i} " + "x" * 60 for i in range(500)))
    with gw.client() as c:
        assert c.ehlo("client.test")[0] == 250
        assert c.has_extn("starttls")
        assert c.starttls(context=client_context)[0] == 220
        assert isinstance(c.sock, ssl.SSLSocket) and c.sock.version() in {"TLSv1.2", "TLSv1.3"}
        c.ehlo("client.test")
        # STARTTLS is not offered again, and a second one is refused (aiosmtpd would nest a second TLS layer)
        assert not c.has_extn("starttls")
        # Nor AUTH: there is no login to this gateway, so none is offered (aiosmtpd's default would)
        assert not c.has_extn("auth")
        assert c.docmd("STARTTLS")[0] == 503
        assert c.mail(USER)[0] == 250
        assert c.rcpt(ASSISTANT)[0] == 250
        code, text = c.data(raw)
    assert code == 250, text
    row = sqlite_store.receipts.get_inbound(text.decode().rsplit(" ", 1)[1])
    assert row is not None and row.peer is not None and row.peer.startswith("127.0.0.1:")
    assert sqlite_store.content.get_blob(row.sha256) == raw


def test_session_bookkeeping_and_the_data_timeout_work_over_tls(
    sqlite_store: Store, run_gateway: Any, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_context, client_context = tls
    gw = run_gateway(sqlite_store, settings={"tls_context": server_context, "data_timeout": 0.3, **COUNTED})
    plain = Raw(gw.port)
    try:
        assert plain.reply().startswith("220")
        assert plain.command("EHLO client.test").startswith("250")
        assert plain.command("STARTTLS").startswith("220")
        with client_context.wrap_socket(plain.sock, server_hostname="127.0.0.1") as tls_sock:
            lines = tls_sock.makefile("rb")
            tls_sock.sendall(f"EHLO client.test\r\nMAIL FROM:<{USER}>\r\nRCPT TO:<{ASSISTANT}>\r\nDATA\r\n".encode())
            ehlo = [lines.readline()]
            while ehlo[-1][3:4] == b"-":
                ehlo.append(lines.readline())
            assert b"STARTTLS" not in b"".join(ehlo)
            assert [lines.readline()[:3] for _ in range(3)] == [b"250", b"250", b"354"]
            # One session, one connection counted for 127.0.0.1, although aiosmtpd started the session again
            assert len(gw.server.sessions) == 1
            assert gw.server.peers.connections("127.0.0.1") == 1
            # When the client stalls, the watch hangs up, over TLS
            tls_sock.sendall(b"Subject: half a message\r\n")
            assert lines.readline().startswith(b"421 4.4.2 ")
            # And the DATA command ends (its slot is free) although the client never finishes the TLS close
            assert wait_for(lambda: gw.server._in_data == 0, 2)
            lines.close()
    finally:
        plain.close()
    assert wait_for(lambda: not gw.server.sessions)
    assert gw.server.peers.connections("127.0.0.1") == 0
    assert sqlite_store.receipts.list_inbound() == []


def test_require_tls_refuses_mail_before_starttls_with_530(
    sqlite_store: Store,
    run_gateway: Any,
    refusals: Callable[[Running], list[tuple[str, str]]],
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    add_user(sqlite_store)
    server_context, client_context = tls
    gw = run_gateway(sqlite_store, settings={"tls_context": server_context, "require_tls": True})
    seen = refusals(gw)
    with gw.client() as c:
        c.ehlo("client.test")
        code, text = c.mail(USER)
        assert (code, text[:5]) == (530, b"5.7.0")
        assert reasons(seen) == ["tls_required"]
        # After STARTTLS the same client gets through
        c.starttls(context=client_context)
        c.ehlo("client.test")
        assert c.mail(USER)[0] == 250
        assert c.rcpt(ASSISTANT)[0] == 250
        assert c.data(message())[0] == 250


# DATA that stalls or trickles


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


# Limits per client address


def test_connections_per_host_are_capped_and_other_hosts_still_get_in(
    sqlite_store: Store, run_gateway: Any, refusals: Callable[[Running], list[tuple[str, str]]]
) -> None:
    gw = run_gateway(sqlite_store, settings={"max_connections": 10, "max_connections_per_ip": 3, **COUNTED})
    seen = refusals(gw)
    # Given one host opening 12 idle connections
    idle = [Raw(gw.port) for _ in range(12)]
    try:
        greetings = [raw.reply() for raw in idle]
        # Then 3 are served and the rest hear 421 4.7.0 and are closed
        assert [g[:3] for g in greetings] == ["220"] * 3 + ["421"] * 9
        assert greetings[3].startswith("421 4.7.0 Too many connections from 127.0.0.1")
        assert all(raw.closed() for raw in idle[3:])
        assert reasons(seen) == ["peer_connections"] * 9
        # And another host is still served
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=10, source_address=("127.0.0.2", 0)) as other:
            assert other.noop()[0] == 250
        # And once one of the 3 leaves, the host may connect again
        idle[0].close()
        assert wait_for(lambda: gw.server.peers.connections("127.0.0.1") == 2)
        with gw.client() as again:
            assert again.noop()[0] == 250
    finally:
        for raw in idle:
            raw.close()


def test_loopback_is_exempt_from_the_per_host_limits_by_default(sqlite_store: Store, run_gateway: Any) -> None:
    gw = run_gateway(sqlite_store, settings={"max_connections_per_ip": 1, "max_messages_per_minute_per_ip": 1})
    with gw.client() as first, gw.client() as second:
        for c in (first, second):
            c.ehlo("client.test")
            assert c.mail(USER)[0] == 250
            c.rset()
            assert c.mail(USER)[0] == 250


def test_messages_per_minute_per_host_are_capped_at_mail(
    sqlite_store: Store, run_gateway: Any, refusals: Callable[[Running], list[tuple[str, str]]]
) -> None:
    gw = run_gateway(sqlite_store, settings={"max_messages_per_minute_per_ip": 3, **COUNTED})
    seen = refusals(gw)
    with gw.client() as c:
        c.ehlo("client.test")
        for _ in range(3):
            assert c.mail(USER)[0] == 250
            c.rset()
        code, text = c.mail(USER)
        assert (code, text[:5]) == (450, b"4.7.1")
        assert b"127.0.0.1" in text and b"3 messages a minute" in text
        # The session goes on; only new mail waits
        assert c.noop()[0] == 250
    # Reconnecting does not start the count again
    with gw.client() as c:
        c.ehlo("client.test")
        assert c.mail(USER)[0] == 450
    # Another host has its own count
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=10, source_address=("127.0.0.2", 0)) as other:
        other.ehlo("client.test")
        assert other.mail(USER)[0] == 250
    assert reasons(seen) == ["peer_rate"] * 2


# Stopping


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


# Oversize


def test_oversize_mail_gets_552_534_at_mail_and_at_the_end_of_data(
    sqlite_store: Store, run_gateway: Any, refusals: Callable[[Running], list[tuple[str, str]]]
) -> None:
    add_user(sqlite_store)
    gw = run_gateway(sqlite_store, settings={"max_message_size": 4096})
    seen = refusals(gw)
    with gw.client() as c:
        c.ehlo("client.test")
        # Declared too big up front
        code, text = c.mail(USER, ["SIZE=5000"])
        assert (code, text[:5]) == (552, b"5.3.4")
        # Declared within the limit, then too big
        assert c.mail(USER, ["SIZE=4000", "BODY=8BITMIME"])[0] == 250
        c.rcpt(ASSISTANT)
        code, text = c.data(message(body=("x" * 70 + "\r\n") * 80))
        assert (code, text[:5]) == (552, b"5.3.4")
        assert b"4096" in text
        # The session goes on
        assert c.noop()[0] == 250
        assert c.mail(USER)[0] == 250
    assert reasons(seen) == ["oversize", "oversize"]
    assert sqlite_store.receipts.list_inbound() == []


def test_a_client_that_vanishes_mid_data_frees_its_slots(sqlite_store: Store, run_gateway: Any) -> None:
    gw = run_gateway(sqlite_store, settings={"max_data_per_ip": 1, **COUNTED})
    add_user(sqlite_store)
    raw = Raw(gw.port)
    raw.envelope()
    assert raw.command("DATA").startswith("354")
    raw.sock.sendall(b"Subject: cut\r\n")
    raw.close()
    assert wait_for(lambda: gw.server._in_data == 0 and not gw.server.sessions)
    # The host's only DATA slot is free again
    with contextlib.closing(Raw(gw.port)) as again:
        again.envelope()
        assert again.command("DATA").startswith("354")
