"""The gateway over real loopback SMTP: policy replies and limits per session."""

from __future__ import annotations

import smtplib
import time
from typing import Any

import pytest

from store import Store
from tests.gateway.conftest import ASSISTANT
from tests.gateway.smtp_support import USER, add_user, message, send


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
