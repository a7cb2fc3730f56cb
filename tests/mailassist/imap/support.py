"""Helpers the IMAP source tests share: users and passwords, test mail, mailbox blocks, pollers and what they filed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from gateway.ingest import Ingestor
from mailassist.config import parse_config
from mailassist.imap import Mailbox, Poller, mailbox_of
from store import Store
from tests.mailassist.dovecot import Dovecot

ANNA = "anna.nowak@example.com"
BOB = "bob.support@example.com"
ANNA_PASSWORD = "anna-imap-Secret-7f3a"
SUPPORT_PASSWORD = "support-imap-Secret-91c2"


def message(n: int, *, subject: str | None = None, sender: str = "tomasz@acme-logistics.example.pl") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Tomasz Wiśniewski <{sender}>"
    msg["To"] = f"Anna Nowak <{ANNA}>"
    msg["Subject"] = subject or f"Fleet renewal, message {n}"
    msg["Date"] = format_datetime(datetime(2024, 5, 1, 10, n % 60, tzinfo=UTC))
    msg["Message-ID"] = make_msgid(domain="acme-logistics.example.pl")
    msg.set_content(f"Dear Anna,\n\nhere is message {n} about the fleet renewal.\n\nTomasz\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def mailbox(server: Dovecot, tmp_path: Path, **block: Any) -> Mailbox:
    """A ``[[sources.imap]]`` block read as the config reads it (plain IMAP to loopback, quick back-off)."""
    values: dict[str, Any] = {
        "name": "anna",
        "host": "127.0.0.1",
        "port": server.port,
        "tls": "none",
        "login": "anna",
        "password": ANNA_PASSWORD,
        "user": ANNA,
        "poll_interval": 0.2,
        "idle": False,
        "min_backoff": 0.1,
        "max_backoff": 0.4,
        "timeout": 10.0,
    }
    values.update(block)
    values = {k: v for k, v in values.items() if v is not None}
    config = parse_config({"sources": {"imap": [values]}}, base_dir=tmp_path)
    return mailbox_of(config, config.sources.imap[0])


def ingestor(store: Store) -> Ingestor:
    return Ingestor(store, enqueue=lambda _ids: None, max_size=1024 * 1024)


made_pollers: list[Poller] = []


def poller(store: Any, box: Mailbox, **kwargs: Any) -> Poller:
    """A poller over ``store``, its connection closed after the test (``close_pollers``)."""
    p = Poller(store, box, ingestor(store if isinstance(store, Store) else store.store), **kwargs)
    made_pollers.append(p)
    return p


@contextmanager
def running(p: Poller) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=p.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(15)
        assert not thread.is_alive()


def receipts(store: Store) -> list[Any]:
    return store.receipts.list_inbound(limit=1000, newest_first=False)


def subjects(store: Store) -> list[str]:
    return sorted(
        store.content.get_blob(r.sha256).split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
        for r in receipts(store)
    )
