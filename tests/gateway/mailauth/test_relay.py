"""A trusted relay's Authentication-Results (``gateway.mailauth.relay``)."""

from __future__ import annotations

from gateway.mailauth import AuthResults, Check, relay_results

GMAIL = (
    b"ARC-Authentication-Results: i=1; mx.google.com;\r\n"
    b"       dkim=pass header.i=@example.com header.s=sel header.b=AbCd1234\r\n"
    b"Return-Path: <anna@example.com>\r\n"
    b"Received: from mail.example.com (mail.example.com. [203.0.113.7])\r\n"
    b"        by mx.google.com with ESMTPS id x\r\n"
    b"Received-SPF: pass (google.com: domain of anna@example.com designates 203.0.113.7 as permitted sender)\r\n"
    b"Authentication-Results: mx.google.com;\r\n"
    b"       dkim=pass header.i=@example.com header.s=sel header.b=AbCd1234;\r\n"
    b"       arc=pass (i=1 spf=pass spfdomain=example.com dkim=pass dkdomain=example.com dmarc=pass"
    b" fromdomain=example.com);\r\n"
    b"       spf=pass (google.com: domain of anna@example.com designates 203.0.113.7 as permitted sender)"
    b" smtp.mailfrom=anna@example.com;\r\n"
    b"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com\r\n"
    b"From: Anna <anna@example.com>\r\n"
)


def test_relay_results_reads_gmail() -> None:
    results = relay_results(GMAIL, "mx.google.com")
    assert results is not None and results.source == "relay"
    assert results.checks == (
        Check("dkim", "pass", "example.com", "sel"),
        Check(
            "arc",
            "pass",
            None,
            detail="i=1 spf=pass spfdomain=example.com dkim=pass dkdomain=example.com dmarc=pass"
            " fromdomain=example.com",
        ),
        Check(
            "spf",
            "pass",
            "example.com",
            detail="google.com: domain of anna@example.com designates 203.0.113.7 as permitted sender",
        ),
        Check("dmarc", "pass", "example.com", detail="p=REJECT sp=REJECT dis=NONE"),
    )
    assert relay_results(GMAIL, "MX.Google.COM") == results


MICROSOFT = (
    b"Authentication-Results: spf=pass (sender IP is 40.107.22.57)\r\n"
    b" smtp.mailfrom=example.com; dkim=pass (signature was verified)\r\n"
    b" header.d=example.com;dmarc=pass action=none\r\n"
    b" header.from=example.com;compauth=pass reason=100\r\n"
    b"Received-SPF: Pass (protection.outlook.com: domain of example.com designates 40.107.22.57 as permitted\r\n"
    b" sender) receiver=protection.outlook.com; client-ip=40.107.22.57; helo=mail.example.com;\r\n"
    b"ARC-Authentication-Results: i=1; mx.microsoft.com 1; spf=pass smtp.mailfrom=example.com;\r\n"
    b" dmarc=pass action=none header.from=example.com; dkim=pass header.d=example.com; arc=none\r\n"
)


def test_relay_results_reads_microsoft_365_without_authserv_id() -> None:
    results = relay_results(MICROSOFT, "")
    assert results is not None
    assert [(c.method, c.result, c.domain, c.detail) for c in results.checks] == [
        ("spf", "pass", "example.com", "sender IP is 40.107.22.57"),
        ("dkim", "pass", "example.com", "signature was verified"),
        ("dmarc", "pass", "example.com", ""),
    ]
    # ARC-Authentication-Results is not an Authentication-Results header, whatever its authserv-id
    assert relay_results(MICROSOFT, "mx.microsoft.com") is None


OPENDKIM = (
    b"Received: from relay.ours.example (relay.ours.example [10.0.0.5]) by gw\r\n"
    b"Authentication-Results: relay.ours.example 1; dmarc=pass (p=reject dis=none) header.from=example.com\r\n"
    b"Authentication-Results: relay.ours.example;\r\n"
    b"\tdkim=pass (2048-bit key; unprotected) header.d=example.com header.i=@example.com header.a=rsa-sha256\r\n"
    b'\theader.s=mail header.b="AbCd1234"; dkim-atps=neutral\r\n'
    b"Authentication-Results: relay.ours.example; spf=pass smtp.mailfrom=anna@example.com\r\n"
    b"\tsmtp.helo=mail.example.com\r\n"
    b"Received: from mail.example.com (mail.example.com [203.0.113.7]) by relay.ours.example (Postfix)\r\n"
    b"Authentication-Results: relay.ours.example; dkim=pass header.d=bank.example header.s=forged\r\n"
    b"From: Anna <anna@example.com>\r\n"
)


def test_relay_results_reads_adjacent_opendkim_and_opendmarc_headers_only() -> None:
    results = relay_results(OPENDKIM, "relay.ours.example")
    assert results is not None
    assert results.checks == (
        Check("dmarc", "pass", "example.com", detail="p=reject dis=none"),
        Check("dkim", "pass", "example.com", "mail", "2048-bit key; unprotected"),
        Check("spf", "pass", "example.com"),
    )


def test_relay_results_takes_ours_below_another_servers_and_ignores_forgeries() -> None:
    block = (
        b"Authentication-Results: spamfilter.example; dkim=pass header.d=bank.example\r\n"
        b"Authentication-Results: RELAY.ours.example; dkim=fail (body hash mismatch) header.d=example.com"
        b" header.s=mail\r\n"
        b"Authentication-Results: evil.example; dkim=pass header.d=example.com\r\n"
        b"Authentication-Results: relay.ours.example; dkim=pass header.d=example.com header.s=mail\r\n"
    )
    results = relay_results(block, "relay.ours.example")
    assert results is not None
    assert results.checks == (Check("dkim", "fail", "example.com", "mail", "body hash mismatch"),)
    assert relay_results(block, "mx.other.example") is None


def test_relay_results_handles_quotes_comments_and_odd_words() -> None:
    block = (
        b'Authentication-Results: "relay.ours.example" (our relay; v2);\r\n'
        b' spf=pass (domain of "a;b" designates (nested; ok) 10.0.0.1) smtp.mailfrom="anna@Example.COM.";\r\n'
        b' dkim/1=hardfail reason="key revoked; rotated" header.d=example.com;\r\n'
        b" dmarc=bestguesspass header.from=example.com; iprev=pass policy.iprev=10.0.0.1; x-custom=pass\r\n"
    )
    results = relay_results(block, "relay.ours.example")
    assert results is not None
    assert results.checks == (
        Check("spf", "pass", "example.com", detail='domain of "a;b" designates (nested; ok) 10.0.0.1'),
        Check("dkim", "fail", "example.com", detail="key revoked; rotated"),
        Check("dmarc", "neutral", "example.com", detail="reported 'bestguesspass'"),
    )


def test_relay_results_with_no_result_and_without_any_header() -> None:
    none = relay_results(b"Authentication-Results: relay.ours.example 1; none\r\n", "relay.ours.example")
    assert none == AuthResults((), "relay")
    assert relay_results(b"From: a@example.com\r\nSubject: hi\r\n\r\nAuthentication-Results: x; none\r\n", "x") is None


def test_relay_results_ignores_headers_past_the_header_section() -> None:
    block = b"Subject: hi\r\n\r\nAuthentication-Results: relay.ours.example; dkim=pass header.d=bank.example\r\n"
    assert relay_results(block, "relay.ours.example") is None
