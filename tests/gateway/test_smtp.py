"""The gateway over real loopback SMTP: policy replies, limits, and "250 only after durable storage"."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy.orm import Session

from store import InboundView, Store, StoreError, StoreUnavailableError
from store.models import User, UserAddress
from store.staged import StagedInbound
from tests.gateway.conftest import ASSISTANT, Running

USER = "anna.nowak@example.com"


def add_user(store: Store, email: str, *aliases: str) -> None:
    with Session(store.engine) as s, s.begin():
        user = User(email=email, name="Anna Nowak", role="all")
        user.addresses = [UserAddress(address=email, is_primary=True)]
        user.addresses += [UserAddress(address=a, is_primary=False) for a in aliases]
        s.add(user)


def message(sender: str = USER, to: str = "jan.kowalski@acme-logistics.pl", extra: str = "", body: str = "Hi") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\n{extra}Subject: Fleet renewal OP-123\r\n"
        f"Message-ID: <{time.monotonic_ns()}@example.com>\r\n\r\n{body}\r\n"
    ).encode()


def send(running: Running, raw: bytes, *, sender: str = USER, rcpts: Sequence[str] = (ASSISTANT,)) -> tuple[int, str]:
    """One transaction; returns the final reply to DATA (or the first refusal)."""
    c = running.client()
    try:
        c.ehlo("client.test")
        code, text = c.mail(sender)
        for r in rcpts:
            if code != 250:
                break
            code, text = c.rcpt(r)
        if code == 250:
            code, text = c.data(raw)
        return code, text.decode()
    finally:
        # The server may hang up after its reply (shutdown); the reply is what counts.
        with contextlib.suppress(smtplib.SMTPServerDisconnected, OSError):
            c.quit()
        c.close()


def test_accepts_mail_for_the_assistant_and_stores_it_before_250(store: Store, run_gateway: Any) -> None:
    # Given a registered user
    add_user(store, USER)
    gw = run_gateway(store)
    raw = message()
    # When the user BCCs the assistant
    code, text = send(gw, raw)
    # Then the reply names the receipt, and at that instant row and blob already exist
    assert code == 250
    assert text.startswith("2.0.0 Ok: queued as ")
    inbound_id = text.rsplit(" ", 1)[1]
    row = store.receipts.get_inbound(inbound_id)
    assert row is not None
    assert row.status == "queued"
    assert row.mail_from == USER
    assert row.rcpt_tos == (ASSISTANT,)
    assert row.size == len(raw)
    assert store.content.get_blob(row.sha256) == raw
    assert row.peer is not None and row.peer.startswith("127.0.0.1:")
    # And the queue was woken for it
    deadline = time.monotonic() + 5
    while not gw.enqueued and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gw.enqueued == [inbound_id]


def test_recipient_domain_is_case_insensitive_and_plus_tags_are_ours(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    gw = run_gateway(sqlite_store)
    assert send(gw, message(), rcpts=["Assistant@CRM.Example.COM"])[0] == 250
    assert send(gw, message(), rcpts=["assistant+anna@crm.example.com"])[0] == 250


@pytest.mark.parametrize(
    "rcpt",
    [
        "someone@gmail.com",
        "assistant@crm.example.com.evil.test",
        "assistant@example.com",
        "xassistant@crm.example.com",
        "+assistant@crm.example.com",
        "assistant%other.test@crm.example.com",
        "other@other.test@crm.example.com",
    ],
)
def test_relay_is_refused(sqlite_store: Store, run_gateway: Any, rcpt: str) -> None:
    add_user(sqlite_store, USER)
    gw = run_gateway(sqlite_store)
    code, text = send(gw, message(), rcpts=[rcpt])
    # 553 is aiosmtpd's own refusal of a malformed address, before our policy runs
    assert (code, text[:6]) in {(550, "5.1.1 "), (553, "5.1.3 ")}
    assert sqlite_store.receipts.list_inbound() == []


def test_oversize_message_gets_552_and_nothing_is_stored(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    gw = run_gateway(sqlite_store, settings={"max_message_size": 4096})
    with gw.client() as c:
        assert b"SIZE 4096" in c.ehlo()[1]
        # Declared too big up front
        code, _ = c.mail(USER, ["SIZE=5000"])
        assert code == 552
        c.rset()
    code, _ = send(gw, message(body=("x" * 70 + "\r\n") * 80))
    assert code == 552
    assert sqlite_store.receipts.list_inbound() == []


def test_unknown_sender_not_addressed_to_a_user_gets_550_571(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    gw = run_gateway(sqlite_store)
    raw = message(sender="spammer@bulk.test", to="victim@other.test")
    code, text = send(gw, raw, sender="spammer@bulk.test")
    assert code == 550
    assert text.startswith("5.7.1 ")
    assert "spammer@bulk.test" in text
    assert "not a registered user" in text
    assert sqlite_store.receipts.list_inbound() == []


@pytest.mark.parametrize(
    ("envelope", "raw"),
    [
        # BCC or forward from the user's mail client, envelope rewritten by a relay
        ("bounces@relay.test", message(sender=f"Anna Nowak <{USER}>")),
        # Mailbox rule: an external client's mail redirected, the user is a recipient
        ("jan@acme-logistics.pl", message(sender="jan@acme-logistics.pl", to=f"Anna <{USER}>")),
        # Gmail "forward a copy": the user only in X-Forwarded-To
        ("jan@acme-logistics.pl", message(sender="jan@acme-logistics.pl", extra=f"X-Forwarded-To: {USER}\r\n")),
        # Exchange/Postfix delivery header
        ("jan@acme-logistics.pl", message(sender="jan@acme-logistics.pl", extra=f"Delivered-To: {USER}\r\n")),
        # Sieve redirect keeps Resent-From
        ("jan@acme-logistics.pl", message(sender="jan@acme-logistics.pl", extra=f"Resent-From: {USER}\r\n")),
        # Gmail auto-forward: the envelope is the user's address with a +caf_ tag, nothing else names the user
        ("anna.nowak+caf_=assistant=crm.example.com@example.com", message(sender="jan@acme-logistics.pl", to="x@y.pl")),
    ],
)
def test_user_found_in_headers_is_accepted(store: Store, run_gateway: Any, envelope: str, raw: bytes) -> None:
    add_user(store, USER)
    gw = run_gateway(store)
    code, _ = send(gw, raw, sender=envelope)
    assert code == 250


def test_user_alias_counts_as_the_user(store: Store, run_gateway: Any) -> None:
    add_user(store, USER, "anna@example.pl")
    gw = run_gateway(store)
    code, _ = send(gw, message(sender="anna@example.pl"), sender="ANNA@example.pl")
    assert code == 250


def test_too_many_recipients_get_452(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    gw = run_gateway(sqlite_store, max_recipients=2)
    with gw.client() as c:
        c.ehlo("client.test")
        c.mail(USER)
        assert c.rcpt(ASSISTANT)[0] == 250
        assert c.rcpt("assistant+b@crm.example.com")[0] == 250
        code, text = c.rcpt("assistant+c@crm.example.com")
        assert (code, text[:5]) == (452, b"4.5.3")


def test_connection_limit_answers_421(sqlite_store: Store, run_gateway: Any) -> None:
    gw = run_gateway(sqlite_store, settings={"max_connections": 2})
    first, second = gw.client(), gw.client()
    try:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            gw.client()
        assert refused.value.smtp_code == 421
        assert refused.value.smtp_error.startswith(b"4.7.0")
    finally:
        first.close()
        second.close()
    # A slot frees up once a client leaves
    deadline = time.monotonic() + 5
    while len(gw.server.sessions) >= 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    gw.client().close()


def test_session_time_limit_closes_with_421(sqlite_store: Store, run_gateway: Any) -> None:
    gw = run_gateway(sqlite_store, settings={"session_timeout": 0.3})
    with gw.client() as c:
        c.ehlo("slow.test")
        time.sleep(0.6)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.noop()
            c.noop()


class _Wrapped:
    """The store as the gateway sees it (``gateway.intake.IntakeStore``), with itself as the receipts group:
    subclasses change one step of the intake."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.inline_max = inner.inline_max
        self.directory = inner.directory
        self.auth = inner.auth
        self.metrics = inner.metrics

    @property
    def receipts(self) -> _Wrapped:
        return self

    def stage_inbound(self, raw: bytes, **kw: Any) -> StagedInbound:
        return self.inner.receipts.stage_inbound(raw, **kw)

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> Sequence[InboundView | StoreError]:
        return self.inner.receipts.add_inbound_batch(batch)

    def after_fork(self) -> None:
        self.inner.after_fork()


class _BrokenBlobs(_Wrapped):
    """A store whose blob directory cannot be written."""

    def stage_inbound(self, raw: bytes, **kw: Any) -> StagedInbound:
        raise StoreUnavailableError("cannot write blob: No space left on device")


def test_blob_write_failure_gets_451(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    gw = run_gateway(_BrokenBlobs(sqlite_store))
    code, text = send(gw, message())
    assert (code, text[:5]) == (451, "4.3.0")


def test_real_blob_write_failure_gets_451_and_no_row(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    sqlite_store.inline_max = 0  # every message a file, as a large one is
    gw = run_gateway(sqlite_store)
    raw = message()
    # A file where the blob's fan-out directory must go makes the real write fail (chmod would not stop root)
    digest = hashlib.sha256(raw).hexdigest()
    (sqlite_store.blobs.root / digest[:2]).write_bytes(b"in the way")
    code, text = send(gw, raw)
    assert (code, text[:5]) == (451, "4.3.0")
    assert sqlite_store.receipts.list_inbound() == []


def test_database_failure_gets_451_and_no_row(store: Store, run_gateway: Any) -> None:
    add_user(store, USER)
    gw = run_gateway(store)
    # The schema vanishing is as fatal to the insert as a lost connection
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE inbound RENAME TO inbound_gone")
    code, text = send(gw, message())
    assert (code, text[:5]) == (451, "4.3.0")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE inbound_gone RENAME TO inbound")
    assert store.receipts.list_inbound() == []


class _HeldStore(_Wrapped):
    """Lets the test hold a DATA command inside storage (in the group commit, after its blob is written)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.committed: list[str] = []

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> list[InboundView | StoreError]:
        self.entered.set()
        assert self.release.wait(10)
        outcomes = self.inner.receipts.add_inbound_batch(batch)
        self.committed += [o.id for o in outcomes if isinstance(o, InboundView)]
        return outcomes


def test_no_reply_until_storage_has_finished(store: Store, run_gateway: Any) -> None:
    add_user(store, USER)
    held = _HeldStore(store)
    gw = run_gateway(held)
    replies: list[tuple[int, str]] = []
    sender = threading.Thread(target=lambda: replies.append(send(gw, message())))
    sender.start()
    assert held.entered.wait(10)
    # While the write is in progress, the client has no answer
    time.sleep(0.3)
    assert replies == []
    held.release.set()
    sender.join(10)
    assert replies[0][0] == 250
    assert replies[0][1].endswith(held.committed[0])


def test_hung_store_gets_451_and_the_late_write_is_rolled_back(store: Store, run_gateway: Any) -> None:
    add_user(store, USER)
    held = _HeldStore(store)
    gw = run_gateway(held)
    gw.server.handler.store_timeout = 0.3
    started = time.monotonic()
    code, text = send(gw, message())
    # The client hears 451 at the deadline, not whenever the store wakes up
    assert (code, text[:5]) == (451, "4.3.0")
    assert time.monotonic() - started < 5
    # When the store comes back, the write it was doing does not commit a receipt nobody was told about
    held.release.set()
    time.sleep(0.3)
    assert held.committed == []
    assert store.receipts.list_inbound() == []


def test_stop_lets_data_in_flight_finish_and_refuses_new_connections(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    held = _HeldStore(sqlite_store)
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


def test_broker_failure_does_not_affect_the_250(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)

    def broken(_inbound_ids: Sequence[str]) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    gw = run_gateway(sqlite_store, enqueue=broken)
    code, text = send(gw, message())
    assert code == 250
    row = sqlite_store.receipts.get_inbound(text.rsplit(" ", 1)[1])
    assert row is not None and row.status == "queued"


class _GatheringStore(_HeldStore):
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
    held = _HeldStore(sqlite_store)
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
    held = _HeldStore(sqlite_store)
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
