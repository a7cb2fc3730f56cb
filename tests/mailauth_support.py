"""Mail for authentication tests: build a message, DKIM-sign it as its sender would and ARC-seal it as a
forwarder would (keys come from :meth:`tests.dnsserver.Zone.add_dkim_key`); check one with a test's defaults."""

from __future__ import annotations

import dkim

from gateway.mailauth import Authenticator, AuthResults, Check, Settled
from tests.dnsserver import Zone

#: The client address of the messages checked (the local DNS server's SPF records name it).
IP = "127.0.0.1"

#: A From/To/Subject message of about ``size`` bytes (``body`` repeated), CRLF line ends.
DEFAULT_BODY = "Hello,\r\nthe offer is attached as discussed.\r\n"


def message(
    from_addr: str = "anna@example.com",
    to_addr: str = "assistant@crm.example.com",
    *,
    subject: str = "Offer",
    body: str = DEFAULT_BODY,
    size: int = 0,
    extra_headers: str = "",
) -> bytes:
    """A plain message; ``size`` pads the body to about that many bytes."""
    while size and len(body) < size:
        body += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    head = (
        f"From: Anna <{from_addr}>\r\nTo: {to_addr}\r\nSubject: {subject}\r\n"
        "Date: Mon, 03 Mar 2025 10:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\n"
        f"{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    )
    return (head + "\r\n" + body).encode()


def sign(raw: bytes, domain: str, selector: str, key: bytes) -> bytes:
    """``raw`` with a DKIM-Signature by ``domain`` on top (relaxed/simple, the usual headers)."""
    signature = dkim.sign(raw, selector.encode(), domain.encode(), key)
    return bytes(signature) + raw


def arc_seal(
    raw: bytes,
    domain: str,
    selector: str,
    key: bytes,
    srv_id: str,
    *,
    results: str = "none",
    signed: tuple[str, ...] | None = None,
) -> bytes:
    """``raw`` as a forwarder passes it on: its Authentication-Results (``srv_id; results``; ``arc=pass`` added when
    the message already has a chain it validated) under a new ARC set. ``signed``: the headers its
    ARC-Message-Signature signs (default: dkimpy's choice of From, To, Subject and the like)."""
    if b"\narc-seal:" in b"\n" + raw.lower() and "arc=" not in results:
        results = "arc=pass" if results == "none" else f"{results}; arc=pass"
    with_results = f"Authentication-Results: {srv_id}; {results}\r\n".encode() + raw
    include = None if signed is None else [name.encode() for name in signed]
    arc_set = dkim.arc_sign(
        with_results, selector.encode(), domain.encode(), key, srv_id.encode(), include_headers=include
    )
    assert arc_set, "dkimpy made no ARC set (no Authentication-Results for srv_id?)"
    return b"".join(arc_set) + with_results


def forwarded(zone: Zone) -> bytes:
    """A message signed by example.com, then sealed by a list and by a second forwarder, each as it relays."""
    key = zone.add_dkim_key("example.com", "sel")
    lists_key = zone.add_dkim_key("lists.example.org", "arc")
    fwd_key = zone.add_dkim_key("forward.example.net", "seal")
    raw = sign(message(), "example.com", "sel", key)
    raw = arc_seal(raw, "lists.example.org", "arc", lists_key, "mx.lists.example.org", results="dkim=pass")
    return arc_seal(raw, "forward.example.net", "seal", fwd_key, "mx.forward.example.net", results="dkim=pass")


def check(
    auth: Authenticator,
    raw: bytes,
    mail_from: str = "anna@example.com",
    *,
    ip: str | None = IP,
    helo: str | None = "mail.example.com",
    settled: Settled | None = None,
) -> AuthResults:
    """``auth.check`` of ``raw`` as anna@example.com's mail from :data:`IP`."""
    return auth.check(raw, mail_from=mail_from, ip=ip, helo=helo, settled=settled)


def one(results: AuthResults, method: str) -> Check:
    """The one check of ``method`` (fails the test when there are several or none)."""
    (found,) = results.of(method)
    return found
