"""Fuzzing a live gateway: whatever a client sends, every reply line is a well-formed SMTP reply, and the server
still greets the next client."""

from __future__ import annotations

import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from store import Store
from store.models import User, UserAddress
from tests.gateway.conftest import ASSISTANT, Running

USER = "anna.nowak@example.com"
REPLY = re.compile(rb"[2-5]\d\d[ -]")

#: Deterministic for CI (the same examples every run, no example database on disk), and well under 30 s.
FUZZ = settings(
    max_examples=200,
    deadline=10_000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text without line breaks, non-ASCII included (surrogates cannot be sent as UTF-8).
_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)
_bytes = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b""))
_address = st.one_of(
    st.sampled_from([USER, ASSISTANT, "assistant+x@crm.example.com", "jan@acme-logistics.pl", "", "postmaster"]),
    _text,
)
_params = st.lists(
    st.one_of(
        st.sampled_from(["SIZE=100", "SIZE=99999999999", "SIZE=x", "BODY=8BITMIME", "BODY=BINARY", "SMTPUTF8", "X=1"]),
        _text,
    ),
    max_size=3,
).map(" ".join)


@dataclass(frozen=True)
class Data:
    """The message after a DATA command's 354, as the chunks it is sent in."""

    chunks: tuple[bytes, ...]


def _message(lines: list[bytes], cuts: list[int]) -> Data:
    # Dot-stuffed, so that only the final line ends it; then cut at random places.
    body = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"
    points = sorted({min(c, len(body)) for c in cuts})
    return Data(tuple(body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True) if body[a:b]))


_data = st.builds(
    _message,
    st.lists(st.one_of(_bytes, _text.map(str.encode), st.just(b"."), st.just(b"x" * 1500)), max_size=8),
    st.lists(st.integers(0, 4000), max_size=6),
)


def _line(*parts: str) -> bytes:
    return " ".join(parts).encode("utf-8")


#: What a real client says, so that sessions get as far as DATA and past it.
_plausible = st.sampled_from(
    [
        b"EHLO client.test",
        b"HELO client.test",
        f"MAIL FROM:<{USER}>".encode(),
        f"MAIL FROM:<{USER}> SIZE=2000 BODY=8BITMIME".encode(),
        b"MAIL FROM:<jan@acme-logistics.pl>",
        f"RCPT TO:<{ASSISTANT}>".encode(),
        b"DATA",
        b"RSET",
        b"STARTTLS",
    ]
)
_random = st.one_of(
    st.tuples(st.sampled_from(["HELO", "EHLO", "helo"]), _text).map(lambda t: _line(*t)),
    st.builds(lambda a, p: _line(f"MAIL FROM:<{a}>", p), _address, _params),
    st.builds(lambda a, p: _line(f"RCPT TO:<{a}>", p), _address, _params),
    st.builds(lambda a: _line("MAIL FROM:", a), _text),
    st.sampled_from([b"DATA", b"RSET", b"NOOP", b"QUIT", b"STARTTLS", b"STARTTLS now", b"DATA x", b"HELP", b""]),
    st.tuples(st.sampled_from(["NOOP", "VRFY", "RSET", "EXPN", "AUTH", "BDAT"]), _text).map(lambda t: _line(*t)),
    _bytes,
    st.integers(400, 3000).map(lambda n: b"NOOP " + b"y" * n),
)


def _mostly(good: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """``good`` about three times in four, else a random command."""
    return st.integers(0, 3).flatmap(lambda n: _random if n == 0 else good)


#: A whole envelope, most of the time a good one, so that DATA is reached often.
_envelope = st.tuples(
    _mostly(st.sampled_from([f"MAIL FROM:<{USER}>".encode(), b"MAIL FROM:<jan@acme-logistics.pl>"])),
    _mostly(st.just(f"RCPT TO:<{ASSISTANT}>".encode())),
    _mostly(st.just(b"DATA")),
)
_command = st.one_of(_envelope, _plausible.map(lambda c: (c,)), _random.map(lambda c: (c,)))


class _Client:
    """One raw connection, upgraded to TLS after a 220 to STARTTLS; every line it reads is checked."""

    def __init__(self, port: int, tls: ssl.SSLContext) -> None:
        self.sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rb")
        self.tls = tls
        self.open = True

    def reply(self) -> int | None:
        """The code of the next reply, each of its lines checked; ``None`` once the server has hung up."""
        while True:
            try:
                line = self.file.readline()
            except (ConnectionError, ssl.SSLError):
                line = b""
            if not line:
                self.open = False
                return None
            assert REPLY.match(line), f"not an SMTP reply: {line!r}"
            assert line.endswith(b"\r\n"), f"reply line not ended by CRLF: {line!r}"
            if line[3:4] == b" ":
                return int(line[:3])

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
        except (ConnectionError, ssl.SSLError):
            self.open = False
        return self.open

    def command(self, line: bytes) -> int | None:
        """Send one command line; its reply code."""
        if not self.send(line + b"\r\n"):
            return None
        code = self.reply()
        if code == 220 and line.upper() == b"STARTTLS":
            self.file.close()
            self.sock = self.tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
            self.file = self.sock.makefile("rb")
        return code

    def message(self, data: Data) -> int | None:
        """Send a message after its 354, in its chunks; the reply code."""
        for chunk in data.chunks:
            if not self.send(chunk):
                return None
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _add_user(store: Store) -> None:
    with Session(store.engine) as s, s.begin():
        user = User(email=USER, name="Anna Nowak", role="all")
        user.addresses = [UserAddress(address=USER, is_primary=True)]
        s.add(user)


@pytest.fixture
def fuzzed(sqlite_store: Store, run_gateway: Any) -> tuple[Running, ssl.SSLContext]:
    """A gateway with STARTTLS and small limits, and a client context that trusts its certificate."""
    _add_user(sqlite_store)
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    settings = {
        "tls_context": server,
        "max_message_size": 8192,
        "data_timeout": 2,
        "max_connections": 50,
        # Counted for loopback too, but high enough never to refuse: the bookkeeping runs under fuzzing
        "per_ip_exempt": (),
        "max_messages_per_minute_per_ip": 100_000,
    }
    return run_gateway(sqlite_store, settings=settings), client


def _greets(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        file = sock.makefile("rb")
        if not file.readline().startswith(b"220 "):
            return False
        sock.sendall(b"EHLO fresh.test\r\n")
        while (line := file.readline())[3:4] == b"-":
            pass
        return line.startswith(b"250 ")


@FUZZ
@given(data=st.data())
def test_every_reply_is_well_formed_and_the_server_survives(
    fuzzed: tuple[Running, ssl.SSLContext], data: st.DataObject
) -> None:
    gw, tls = fuzzed
    client = _Client(gw.port, tls)
    try:
        assert client.reply() == 220
        code = client.command(data.draw(_mostly(st.just(b"EHLO client.test")), label="greeting"))
        if code == 250 and data.draw(st.booleans(), label="TLS"):
            # Half the sessions go on inside TLS
            for line in (b"STARTTLS", b"EHLO client.test"):
                code = client.command(line)
        for _ in range(data.draw(st.integers(0, 12), label="steps")):
            if code == 354:
                code = client.message(data.draw(_data))
                continue
            for line in data.draw(_command):
                if not client.open or code == 354:
                    break
                code = client.command(line)
            if not client.open:
                break
        if client.open and code == 354:
            client.message(_message([], []))
    finally:
        client.close()
    assert _greets(gw.port)


def test_the_fuzzing_client_delivers_mail_over_starttls(fuzzed: tuple[Running, ssl.SSLContext]) -> None:
    # The harness itself works: a well-behaved session through it ends in 250
    gw, tls = fuzzed
    client = _Client(gw.port, tls)
    try:
        assert client.reply() == 220
        for line in (
            b"EHLO x",
            b"STARTTLS",
            b"EHLO x",
            f"MAIL FROM:<{USER}>".encode(),
            f"RCPT TO:<{ASSISTANT}>".encode(),
        ):
            assert client.command(line) in {220, 250}
        assert client.command(b"DATA") == 354
        lines = [f"From: {USER}", "Subject: t", f"Message-ID: <{time.monotonic_ns()}@x>", "", ".dot"]
        assert client.message(_message([line.encode() for line in lines], [7, 30])) == 250
    finally:
        client.close()
