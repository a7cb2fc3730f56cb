"""Trust at the door, over real SMTP with a real local DNS server: every forged form is refused with its code and
reason before anything is stored, and every genuine form gets in with its proof on the receipt."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.admission import AdmissionSettings
from gateway.mailauth import Authenticator, Resolver
from gateway.policy import hash_address_token, new_address_token
from gateway.trust import TrustSettings
from store import Store
from tests.dnsserver import LocalDNS
from tests.gateway.conftest import ASSISTANT
from tests.gateway.smtp_support import add_user, send
from tests.mailauth_support import arc_seal, sign

ANNA = "anna.nowak@example.com"
CONTACT = "t.wisniewski@acme-logistics.pl"
NO_RELAYS = AdmissionSettings(
    TrustSettings(org_domains=("example.com",), provider_domains=("microsoft.com",)), trusted_relays=()
)


def mail(sender: str = ANNA, to: str = CONTACT, *, extra: str = "", subject: str = "Offer OP-123") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\n{extra}Subject: {subject}\r\nDate: Fri, 04 Dec 2026 10:00:00 +0100\r\n"
        f"Message-ID: <{new_address_token()}@example.com>\r\n\r\nDear Tomasz,\r\nthe offer is attached.\r\n"
    ).encode()


@pytest.fixture
def users(sqlite_store: Store) -> Store:
    add_user(sqlite_store, ANNA)
    return sqlite_store


@pytest.fixture
def dns(dns_server: LocalDNS) -> LocalDNS:
    return dns_server


@pytest.fixture
def gateway(users: Store, dns: LocalDNS, run_gateway: Any) -> Iterator[Any]:
    """A gateway that trusts no peer (loopback included): every message must prove itself."""
    authenticator = Authenticator(Resolver([dns.address], timeout=0.5))
    yield run_gateway(users, trust=NO_RELAYS, authenticator=authenticator)


def refusals(store: Store) -> dict[tuple[str, str], int]:
    store_counts: dict[tuple[str, str], int] = store.metrics.metrics_snapshot().rejections_by_reason
    return store_counts


@pytest.mark.parametrize(
    "case",
    [
        # The phishing mail: a client contact's From, a salesperson in To, a bank account change
        (
            "bounce@attacker.test",
            mail(CONTACT, ANNA, subject="Re: OP-123 new bank account"),
            "550 5.7.1",
            "redirect_unproven",
        ),
        (ANNA, mail(), "550 5.7.1", "not_aligned"),  # a user's own address as envelope and From, unsigned
        ("bounce@attacker.test", mail(CONTACT, "x@acme.test", extra=f"Sender: {ANNA}\r\n"), "550 5.7.1", "not_aligned"),
        (
            "bounce@attacker.test",
            mail(CONTACT, "x@acme.test", extra=f"Resent-From: {ANNA}\r\n"),
            "550 5.7.1",
            "not_aligned",
        ),
        (
            "bounce@attacker.test",
            mail(CONTACT, "x@acme.test", extra=f"Delivered-To: {ANNA}\r\n"),
            "550 5.7.1",
            "redirect_unproven",
        ),
        (
            "bounce@attacker.test",
            mail(CONTACT, "x@acme.test", extra=f"X-Forwarded-To: {ANNA}\r\n"),
            "550 5.7.1",
            "redirect_unproven",
        ),
        (
            "bounce@attacker.test",
            mail(CONTACT, "x@acme.test", extra=f"Cc: {ANNA}\r\n"),
            "550 5.7.1",
            "redirect_unproven",
        ),
        (
            "bounce@attacker.test",
            mail(CONTACT, "x@acme.test", extra=f"X-MS-Exchange-Inbox-Rules-Loop: {ANNA}\r\n"),
            "550 5.7.1",
            "redirect_unproven",
        ),
        (
            "bounce@attacker.test",
            mail(CONTACT, "x@acme.test", extra=f"X-MS-Exchange-ForwardingLoop: {ANNA};tenant\r\n"),
            "550 5.7.1",
            "redirect_unproven",
        ),
        (
            "bounce@attacker.test",
            mail(CONTACT, "x@acme.test", extra=f"X-Sieve-Redirected-From: {ANNA}\r\n"),
            "550 5.7.1",
            "redirect_unproven",
        ),
    ],
)
def test_each_forged_form_is_refused_with_its_reason_and_nothing_is_stored(
    gateway: Any, users: Store, case: tuple[str, bytes, str, str]
) -> None:
    mail_from, raw, code, reason = case

    reply_code, text = send(gateway, raw, sender=mail_from)

    assert f"{reply_code} {text[:5]}" == code, text
    assert users.receipts.list_inbound() == []
    gateway.stop()  # the refusal counts are written on the way out at the latest
    assert wait_for_count(users, (code, reason))


def wait_for_count(store: Store, key: tuple[str, str]) -> bool:
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if refusals(store).get(key):
            return True
        time.sleep(0.05)
    return False


def test_a_signature_by_another_domain_does_not_make_a_user_s_from_true(
    gateway: Any, users: Store, dns: LocalDNS
) -> None:
    key = dns.zone.add_dkim_key("attacker.test", "s1")
    raw = sign(mail(ANNA), "attacker.test", "s1", key)

    code, text = send(gateway, raw, sender="bounce@attacker.test")

    assert code == 550
    assert text.startswith(f"5.7.1 Mail from {ANNA} is not DKIM-signed by example.com")
    assert "send it from your company mailbox or to your personal assistant address" in text


def test_a_dmarc_failure_of_our_domain_is_5_7_26(gateway: Any, dns: LocalDNS) -> None:
    dns.zone.add_dmarc("example.com", "v=DMARC1; p=reject")

    code, text = send(gateway, mail(ANNA), sender="bounce@attacker.test")

    assert (code, text[:6]) == (550, "5.7.26")
    assert "fails DMARC for example.com" in text


def test_a_dkim_signature_aligned_with_our_domain_proves_a_bcc(gateway: Any, users: Store, dns: LocalDNS) -> None:
    key = dns.zone.add_dkim_key("example.com", "mail2026")
    raw = sign(mail(ANNA), "example.com", "mail2026", key)

    code, text = send(gateway, raw, sender=ANNA)

    assert code == 250, text
    (receipt,) = users.receipts.list_inbound()
    assert (receipt.submitter, receipt.proof) == (ANNA, "dkim")
    assert receipt.auth is not None and receipt.auth["detail"] == "dkim pass d=example.com s=mail2026"
    dkim = [c for c in receipt.auth["checks"] if c["method"] == "dkim"]
    assert dkim == [
        {
            "method": "dkim",
            "result": "pass",
            "domain": "example.com",
            "selector": "mail2026",
            "detail": dkim[0]["detail"],
        }
    ]
    # The aligned DKIM pass decides, so SPF was not evaluated, and the receipt says so
    (spf,) = [c for c in receipt.auth["checks"] if c["method"] == "spf"]
    assert (spf["result"], spf["domain"]) == ("skipped", "example.com")
    assert spf["detail"] == "not evaluated: dkim pass d=example.com s=mail2026 decides"


def test_spf_aligned_with_our_domain_proves_a_bcc(gateway: Any, users: Store, dns: LocalDNS) -> None:
    dns.zone.add_spf("example.com", "v=spf1 ip4:127.0.0.1 -all")

    code, text = send(gateway, mail(ANNA), sender=ANNA)

    assert code == 250, text
    (receipt,) = users.receipts.list_inbound()
    assert (receipt.submitter, receipt.proof) == (ANNA, "spf")


def test_arc_through_our_own_forwarder_proves_a_redirect(gateway: Any, users: Store, dns: LocalDNS) -> None:
    # Given a client's mail, DKIM-signed by the client, delivered to Anna's mailbox and sealed by our server
    client_key = dns.zone.add_dkim_key("acme-logistics.pl", "k1")
    our_key = dns.zone.add_dkim_key("example.com", "arc")
    original = sign(mail(CONTACT, ANNA), "acme-logistics.pl", "k1", client_key)
    forwarded = arc_seal(original, "example.com", "arc", our_key, "mx.example.com", results="dkim=pass")

    code, text = send(gateway, forwarded, sender="SRS0=ab=KC=acme-logistics.pl=t.wisniewski@example.com")

    assert code == 250, text
    (receipt,) = users.receipts.list_inbound()
    assert (receipt.submitter, receipt.proof) == (ANNA, "arc")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-MS-Exchange-Inbox-Rules-Loop", ANNA),  # an inbox rule
        ("X-MS-Exchange-ForwardingLoop", f"{ANNA};72f988bf-86f1-41af-91ab-2d7cd011db47"),  # mailbox forwarding
    ],
)
def test_an_exchange_redirect_of_bcc_mail_is_accepted_on_its_provider_s_seal(
    gateway: Any, users: Store, dns: LocalDNS, header: str, value: str
) -> None:
    # Anna was only in Bcc: her mailbox is named by the loop header Exchange adds and signs under its ARC seal
    key = dns.zone.add_dkim_key("microsoft.com", "arcselector9901")
    original = mail(CONTACT, "someone.else@acme-logistics.pl", extra=f"{header}: {value}\r\n")
    signed = ("from", "to", "subject", "date", "message-id", header.lower())
    sealed = arc_seal(original, "microsoft.com", "arcselector9901", key, "mx.microsoft.com", signed=signed)

    code, text = send(gateway, sealed, sender="bounces+SRS=x@example.com")

    assert code == 250, text
    (receipt,) = users.receipts.list_inbound()
    assert (receipt.submitter, receipt.proof) == (ANNA, "arc")
    assert receipt.auth is not None and receipt.auth["via"] == header


def test_a_sieve_redirect_is_accepted_on_the_organisation_s_seal(gateway: Any, users: Store, dns: LocalDNS) -> None:
    # Anna's Sieve "redirect" on the company's own Dovecot names her mailbox; the company's server seals what it sends
    key = dns.zone.add_dkim_key("example.com", "arc2026")
    original = mail(CONTACT, "sales@example.com", extra=f"X-Sieve-Redirected-From: {ANNA}\r\n")
    sealed = arc_seal(original, "example.com", "arc2026", key, "mx.example.com")

    code, text = send(gateway, sealed, sender="bounces+SRS=y@example.com")

    assert code == 250, text
    (receipt,) = users.receipts.list_inbound()
    assert (receipt.submitter, receipt.proof) == (ANNA, "arc")
    assert receipt.auth is not None and receipt.auth["via"] == "X-Sieve-Redirected-From"


def test_a_trace_header_added_to_a_provider_sealed_message_is_refused(
    gateway: Any, users: Store, dns: LocalDNS
) -> None:
    # Given mail the provider really redirected out of the attacker's own mailbox, and sealed...
    key = dns.zone.add_dkim_key("microsoft.com", "arcselector9901")
    loop = "X-MS-Exchange-Inbox-Rules-Loop: attacker@evil.onmicrosoft.com\r\n"
    signed = ("from", "to", "subject", "x-ms-exchange-inbox-rules-loop")
    sealed = arc_seal(
        mail(CONTACT, "x@acme.test", extra=loop), "microsoft.com", "arcselector9901", key, "mx", signed=signed
    )
    # ...when the attacker adds a rule-loop header naming Anna: above the seal, just below it, or last of all
    anna = f"X-MS-Exchange-Inbox-Rules-Loop: {ANNA}\r\n".encode()
    above = anna + sealed
    below = sealed.replace(loop.encode(), anna + loop.encode())
    last = sealed.replace(b"\r\n\r\n", b"\r\n" + anna + b"\r\n", 1)  # the signed instance, so the seal breaks

    for forged in (above, below, last):
        code, text = send(gateway, forged, sender="attacker@evil.onmicrosoft.com")
        assert (code, text[:5]) == (550, "5.7.1"), text
    assert users.receipts.list_inbound() == []


def test_a_secret_address_proves_the_user_whatever_from_says_and_rotation_ends_it_at_once(
    gateway: Any, users: Store
) -> None:
    token = new_address_token()
    users.auth.set_assistant_token_hash(ANNA, hash_address_token(token))
    personal = f"assistant+{token}@crm.example.com"

    code, text = send(gateway, mail(CONTACT, "x@acme.test"), sender="someone@elsewhere.test", rcpts=[personal])

    assert code == 250, text
    (receipt,) = users.receipts.list_inbound()
    assert (receipt.submitter, receipt.proof) == (ANNA, "secret-address")
    # When Anna rotates it, the old address is refused at RCPT, before any DATA
    users.auth.set_assistant_token_hash(ANNA, hash_address_token(new_address_token()))
    code, text = send(gateway, mail(CONTACT, "x@acme.test"), sender="someone@elsewhere.test", rcpts=[personal])
    assert (code, text[:5]) == (550, "5.1.1")
    assert "personal assistant address is not valid" in text
    # A mistyped token is refused the same way; a tag that is no token is the plain address
    assert send(gateway, mail(), sender=ANNA, rcpts=["assistant+" + "a" * 24 + "@crm.example.com"])[0] == 550
    assert send(gateway, mail(), sender=ANNA, rcpts=["assistant+crm@crm.example.com"])[1].startswith("5.7.1")


def test_dns_down_is_451_so_the_sender_retries(gateway: Any, users: Store, dns: LocalDNS) -> None:
    dns.mode = "drop"

    code, text = send(gateway, mail(ANNA), sender=ANNA)

    assert (code, text[:5]) == (451, "4.7.0"), text
    assert users.receipts.list_inbound() == []


def test_a_trusted_relay_is_the_organisation_s_own(users: Store, run_gateway: Any) -> None:
    relays = AdmissionSettings(TrustSettings(org_domains=("example.com",)))  # the default: loopback
    gw = run_gateway(users, trust=relays)

    code, text = send(gw, mail(ANNA), sender=ANNA)

    assert code == 250, text
    (receipt,) = users.receipts.list_inbound()
    assert (receipt.submitter, receipt.proof) == (ANNA, "trusted-relay")


def test_a_trusted_relay_s_authentication_results_decide_and_nobody_else_s(
    users: Store, dns: LocalDNS, run_gateway: Any
) -> None:
    relay = AdmissionSettings(
        TrustSettings(org_domains=("example.com",)),
        trusted_relays=(ipaddress.ip_network("127.0.0.0/8"),),
        authserv_id="mx.crm.example.com",
    )
    gw = run_gateway(users, trust=relay, authenticator=Authenticator(Resolver([dns.address], timeout=0.5)))
    passed = "Authentication-Results: mx.crm.example.com; dkim=pass header.d=example.com header.s=sel; spf=none\r\n"
    failed = "Authentication-Results: mx.crm.example.com; dkim=fail header.d=example.com; spf=fail\r\n"

    assert send(gw, passed.encode() + mail(ANNA), sender=ANNA)[0] == 250
    assert send(gw, failed.encode() + mail(ANNA), sender=ANNA)[0] == 550
    (receipt,) = users.receipts.list_inbound()
    assert (receipt.proof, receipt.auth and receipt.auth["source"]) == ("dkim", "relay")


def test_authentication_results_from_an_untrusted_peer_are_ignored(gateway: Any, users: Store) -> None:
    forged = b"Authentication-Results: mx.crm.example.com; dkim=pass header.d=example.com; dmarc=pass\r\n" + mail(ANNA)

    code, _text = send(gateway, forged, sender=ANNA)

    assert code == 550
    assert users.receipts.list_inbound() == []


def test_postmaster_is_always_accepted_and_kept(gateway: Any, users: Store) -> None:
    code, text = send(
        gateway, mail(CONTACT, "postmaster@crm.example.com"), sender="", rcpts=["postmaster@crm.example.com"]
    )

    assert code == 250, text
    (receipt,) = users.receipts.list_inbound()
    assert (receipt.submitter, receipt.proof) == ("postmaster", "postmaster")


@pytest.mark.parametrize(
    "payload",
    [b"\n.\n", b"\r\n.\r", b"\r.\r\n", b"\n.\r\n", b"\r\n.\n", b"\r\r\n.\r\r\n", b"\n.\r\r\n"],
    ids=["LF.LF", "CRLF.CR", "CR.CRLF", "LF.CRLF", "CRLF.LF", "CRCRLF.CRCRLF", "LF.CRCRLF"],
)
def test_smuggling_payloads_still_make_exactly_one_message(users: Store, run_gateway: Any, payload: bytes) -> None:
    # A trusted relay, so the smuggled message would be accepted too if it were ever read as one
    gw = run_gateway(users)
    smuggled = (
        b"From: "
        + ANNA.encode()
        + b"\r\nSubject: first\r\n\r\nhello"
        + payload
        + b"MAIL FROM:<"
        + ANNA.encode()
        + b">\r\nRCPT TO:<"
        + ASSISTANT.encode()
        + b">\r\nDATA\r\n"
        + b"From: "
        + ANNA.encode()
        + b"\r\nSubject: smuggled\r\n\r\nsecond\r\n"
    )
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220")
        for command in (
            b"EHLO client.test",
            b"MAIL FROM:<" + ANNA.encode() + b">",
            b"RCPT TO:<" + ASSISTANT.encode() + b">",
            b"DATA",
        ):
            sock.sendall(command + b"\r\n")
            line = reader.readline()
            while line[3:4] == b"-":
                line = reader.readline()
        assert line.startswith(b"354")
        sock.sendall(smuggled + b"\r\n.\r\nQUIT\r\n")
        replies = [reader.readline() for _ in range(2)]
    assert replies[0].startswith(b"250"), replies
    assert replies[1].startswith(b"221"), replies
    (receipt,) = users.receipts.list_inbound()
    raw = users.content.get_blob(receipt.sha256)
    assert b"Subject: smuggled" in raw  # kept as the first message's text, never a message of its own
