"""The gateway's STARTTLS over real loopback SMTP: mail after STARTTLS, timeouts over TLS, require_tls."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import pytest
import trustme

from store import Store
from tests.gateway.conftest import ASSISTANT, Running
from tests.gateway.hardening.support import COUNTED, USER, Raw, add_user, message, reasons, wait_for


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 from a test CA, and a client context trusting it."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("mx.test", "127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


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
