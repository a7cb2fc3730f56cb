"""Helpers for the gateway's defence tests: a user, a message, a raw socket client, trickled DATA and refusal counts."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from store import Store
from store.models import User, UserAddress
from tests.gateway.conftest import ASSISTANT

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


def reasons(seen: list[tuple[str, str]]) -> list[str]:
    return [reason for _reply, reason in seen]


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
