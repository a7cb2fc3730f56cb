"""The gateway's limits per client address and on message size over real loopback SMTP.

Clients on 127.0.0.2 stand for a second host (all of 127/8 is loopback)."""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import Callable
from typing import Any

from store import Store
from tests.gateway.conftest import ASSISTANT, Running
from tests.gateway.hardening.support import COUNTED, USER, Raw, add_user, message, reasons, wait_for

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
