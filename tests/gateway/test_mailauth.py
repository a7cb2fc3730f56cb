"""gateway.mailauth against a real DNS server on 127.0.0.1 (tests.dnsserver): DKIM, SPF, DMARC, ARC, DNS trouble,
the cache, and a trusted relay's Authentication-Results."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.mailauth import (
    MAX_HEADER_BYTES,
    Authenticator,
    AuthResults,
    Check,
    Resolver,
    Settled,
    relay_results,
)
from tests.dnsserver import LocalDNS, Zone, rsa_key_pair
from tests.mailauth_support import arc_seal, message, sign

IP = "127.0.0.1"


@pytest.fixture
def zone(dns_server: LocalDNS) -> Zone:
    return dns_server.zone


@pytest.fixture
def auth(dns_server: LocalDNS) -> Authenticator:
    return Authenticator(Resolver([dns_server.address], timeout=5.0))


def check(
    auth: Authenticator,
    raw: bytes,
    mail_from: str = "anna@example.com",
    *,
    ip: str | None = IP,
    helo: str | None = "mail.example.com",
    settled: Settled | None = None,
) -> AuthResults:
    return auth.check(raw, mail_from=mail_from, ip=ip, helo=helo, settled=settled)


def one(results: AuthResults, method: str) -> Check:
    (found,) = results.of(method)
    return found


# --- DKIM -----------------------------------------------------------------------------------------------------


def test_dkim_pass_names_domain_and_selector(auth: Authenticator, zone: Zone) -> None:
    key = zone.add_dkim_key("example.com", "sel")
    results = check(auth, sign(message(), "example.com", "sel", key))
    assert one(results, "dkim") == Check("dkim", "pass", "example.com", "sel")
    assert results.source == "checked"


def test_a_dkim_signature_with_a_body_length_vouches_for_nothing(auth: Authenticator, zone: Zone) -> None:
    import dkim

    key = zone.add_dkim_key("example.com", "sel")
    raw = message()
    signed = bytes(dkim.sign(raw, b"sel", b"example.com", key, length=True)) + raw
    # Anyone may append to an l= signed body and keep a valid signature: it is "policy", never "pass"
    appended = signed + b"\r\nP.S. Our bank account has changed: PL61 1090 1014 0000 0712 1981 2874\r\n"

    for candidate in (signed, appended):
        (dkim_check,) = auth.check(candidate, ip=None, helo=None, mail_from="").of("dkim")
        assert (dkim_check.result, dkim_check.domain) == ("policy", "example.com"), dkim_check


def test_dkim_fails_after_body_tampering(auth: Authenticator, zone: Zone) -> None:
    key = zone.add_dkim_key("example.com", "sel")
    signed = sign(message(), "example.com", "sel", key)
    results = check(auth, signed.replace(b"the offer", b"the invoice"))
    assert one(results, "dkim") == Check("dkim", "fail", "example.com", "sel", "body hash mismatch")


def test_dkim_fails_after_header_tampering(auth: Authenticator, zone: Zone) -> None:
    key = zone.add_dkim_key("example.com", "sel")
    signed = sign(message(), "example.com", "sel", key)
    dkim = one(check(auth, signed.replace(b"Subject: Offer", b"Subject: Invoice")), "dkim")
    assert (dkim.result, dkim.detail) == ("fail", "signature did not verify")


def test_dkim_without_published_key_is_permerror(auth: Authenticator, zone: Zone) -> None:
    key = zone.add_dkim_key("example.com", "other")
    dkim = one(check(auth, sign(message(), "example.com", "sel", key)), "dkim")
    assert dkim == Check("dkim", "permerror", "example.com", "sel", "no key for signature")


def test_dkim_with_another_key_fails(auth: Authenticator, zone: Zone) -> None:
    zone.add_dkim_key("example.com", "sel")
    stranger, _public = rsa_key_pair()
    assert one(check(auth, sign(message(), "example.com", "sel", stranger)), "dkim").result == "fail"


def test_dkim_4096_bit_key_comes_over_tcp_through_a_cname(auth: Authenticator, zone: Zone) -> None:
    # Given a key record too big for a 512-byte UDP answer, published behind a CNAME (as Microsoft 365 does)
    key, public = rsa_key_pair(4096)
    zone.add_cname("sel._domainkey.example.com", "sel._domainkey.keys.example.net")
    zone.add_txt("sel._domainkey.keys.example.net", f"v=DKIM1; k=rsa; p={public}")
    # Then the resolver follows the truncation to TCP and the CNAME, and the signature verifies
    assert one(check(auth, sign(message(), "example.com", "sel", key)), "dkim").result == "pass"


def test_each_signature_is_a_check_up_to_the_limit(dns_server: LocalDNS, zone: Zone) -> None:
    key = zone.add_dkim_key("example.com", "sel")
    other = zone.add_dkim_key("esp.example.net", "s1")
    raw = sign(sign(message(), "esp.example.net", "s1", other), "example.com", "sel", key)
    for _ in range(5):
        raw = sign(raw, "spam.example.org", "x", other)
    results = check(Authenticator(Resolver([dns_server.address], timeout=5.0), max_signatures=3), raw)
    assert [(c.domain, c.result) for c in results.of("dkim")] == [
        ("spam.example.org", "permerror"),
        ("spam.example.org", "permerror"),
        ("spam.example.org", "permerror"),
    ]
    results = check(Authenticator(Resolver([dns_server.address], timeout=5.0), max_signatures=10), raw)
    assert [(c.domain, c.result) for c in results.passing("dkim")] == [
        ("example.com", "pass"),
        ("esp.example.net", "pass"),
    ]


def test_unsigned_message_has_dkim_none(auth: Authenticator) -> None:
    assert one(check(auth, message()), "dkim") == Check("dkim", "none", None, detail="no signature")


def test_malformed_signatures_are_permerror_without_dns(auth: Authenticator, dns_server: LocalDNS) -> None:
    absurd = "a" * 60 + "." + ".".join(["b" * 60] * 4)
    raw = (
        b"DKIM-Signature: v=1; a=rsa-sha256; garbage\r\n"
        + f"DKIM-Signature: v=1; a=rsa-sha256; d={absurd}; s=sel; h=from; bh=AAAA; b=AAAA\r\n".encode()
        + b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=!!; b=AAAA\r\n"
        + message()
    )
    results = check(auth, raw, ip=None)
    assert [c.result for c in results.of("dkim")] == ["permerror"] * 3
    assert not [q for q in dns_server.asked() if "_domainkey" in q[0]]


def test_unparsable_header_section_never_raises(auth: Authenticator) -> None:
    raw = b" folded first line\r\nno colon here\r\nDKIM-Signature: v=1; d=example.com; s=sel\r\n\r\nbody"
    results = check(auth, raw)
    assert one(results, "dkim").result == "permerror"
    assert one(results, "dmarc") == Check("dmarc", "permerror", None, detail="no From header")


def test_oversized_header_section_is_not_authenticated(auth: Authenticator, zone: Zone) -> None:
    zone.add_spf("example.com")
    raw = b"X-Filler: " + b"x" * 100 + b"\r\n"
    raw = raw * (MAX_HEADER_BYTES // len(raw) + 1) + message()
    results = check(auth, raw)
    assert [c.result for c in results.checks] == ["permerror", "pass", "permerror", "permerror"]


# --- SPF ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=spf1 ip4:127.0.0.1 -all", ("pass", "ip4:127.0.0.1")),
        ("v=spf1 ip4:192.0.2.1 -all", ("fail", "-all")),
        ("v=spf1 ip4:192.0.2.1 ~all", ("softfail", "~all")),
        ("v=spf1 ?all", ("neutral", "?all")),
        ("v=spf1 include:_spf.example.net -all", ("pass", "include:_spf.example.net")),
        ("v=spf1 mx -all", ("pass", "mx")),
        ("v=spf1 a:relay.example.com -all", ("pass", "a:relay.example.com")),
        ("v=spf1 ip4:127.0.0.1 bogus -all", ("permerror", "Unknown mechanism found: bogus")),
    ],
)
def test_spf_results(auth: Authenticator, zone: Zone, record: str, expected: tuple[str, str]) -> None:
    zone.add_spf("example.com", record)
    zone.add_spf("_spf.example.net", "v=spf1 ip4:127.0.0.0/8 -all")
    zone.add_mx("example.com", "mx.example.com")
    zone.add_a("mx.example.com", IP)
    zone.add_a("relay.example.com", IP)
    spf = one(check(auth, message()), "spf")
    assert (spf.result, spf.detail) == expected
    assert spf.domain == "example.com"


def test_spf_asks_our_resolver_never_pyspfs_own(
    auth: Authenticator, zone: Zone, dns_server: LocalDNS, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spf

    def system_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("pyspf's process-wide DNSLookup was used")

    monkeypatch.setattr(spf, "DNSLookup", system_dns)
    zone.add_spf("example.com", "v=spf1 mx -all")
    zone.add_mx("example.com", "mx.example.com")
    zone.add_a("mx.example.com", IP)
    assert one(check(auth, message()), "spf").result == "pass"
    assert {("example.com", "MX"), ("mx.example.com", "A")} <= set(dns_server.asked())


def test_spf_none_without_record(auth: Authenticator) -> None:
    assert one(check(auth, message()), "spf") == Check("spf", "none", "example.com")


def test_spf_two_records_are_permerror(auth: Authenticator, zone: Zone) -> None:
    zone.add_spf("example.com")
    zone.add_spf("example.com", "v=spf1 -all")
    assert one(check(auth, message()), "spf").result == "permerror"


@pytest.mark.parametrize("null_sender", ["", "<>"])
def test_spf_checks_helo_for_null_sender(auth: Authenticator, zone: Zone, null_sender: str) -> None:
    zone.add_spf("mail.example.com")
    spf = one(check(auth, message(), mail_from=null_sender, helo="mail.example.com"), "spf")
    assert (spf.result, spf.domain) == ("pass", "mail.example.com")


def test_spf_without_client_ip_is_none_and_asks_nothing(auth: Authenticator, dns_server: LocalDNS) -> None:
    spf = one(check(auth, message(), ip=None), "spf")
    assert spf == Check("spf", "none", "example.com", detail="no client IP")
    assert not dns_server.asked("example.com")


def test_spf_ipv6_client(auth: Authenticator, zone: Zone) -> None:
    zone.add_spf("example.com", "v=spf1 ip6:2001:db8::/32 -all")
    assert one(check(auth, message(), ip="2001:db8::25"), "spf").result == "pass"
    assert one(check(auth, message(), ip="2001:db9::25"), "spf").result == "fail"


def test_spf_absurd_domain_is_none_without_dns(auth: Authenticator, dns_server: LocalDNS) -> None:
    sender = "a@" + ".".join(["x" * 63] * 5)
    assert one(check(auth, message(), mail_from=sender), "spf") == Check("spf", "none", None, detail="invalid domain")
    assert not [q for q in dns_server.asked() if q[0].startswith("xxx")]


# --- DMARC ----------------------------------------------------------------------------------------------------


def test_dmarc_pass_aligned_through_dkim(auth: Authenticator, zone: Zone) -> None:
    key = zone.add_dkim_key("example.com", "sel")
    zone.add_dmarc("example.com")
    results = check(auth, sign(message(), "example.com", "sel", key), mail_from="bounce@esp.example.net")
    assert one(results, "dmarc") == Check("dmarc", "pass", "example.com", detail="p=reject, aligned dkim example.com")


def test_dmarc_pass_aligned_through_spf_relaxed(auth: Authenticator, zone: Zone) -> None:
    # Given mail from example.com whose envelope sender is a subdomain with its own SPF record, and no DKIM
    zone.add_spf("bounces.example.com")
    zone.add_dmarc("example.com")
    results = check(auth, message(), mail_from="b-123@bounces.example.com")
    # Then SPF passes for the subdomain and DMARC (relaxed) accepts it
    assert one(results, "spf").domain == "bounces.example.com"
    dmarc = one(results, "dmarc")
    assert (dmarc.result, dmarc.detail) == ("pass", "p=reject, aligned spf bounces.example.com")


def test_dmarc_strict_spf_alignment_fails_for_a_subdomain(auth: Authenticator, zone: Zone) -> None:
    zone.add_spf("bounces.example.com")
    zone.add_dmarc("example.com", "v=DMARC1; p=quarantine; aspf=s")
    dmarc = one(check(auth, message(), mail_from="b-123@bounces.example.com"), "dmarc")
    assert (dmarc.result, dmarc.detail) == ("fail", "p=quarantine")


def test_dmarc_fail_with_reject_policy(auth: Authenticator, zone: Zone) -> None:
    # Given a spoofed From: signed by another domain, sent from a server example.com does not list
    key = zone.add_dkim_key("evil.example.org", "s")
    zone.add_spf("example.com", "v=spf1 ip4:192.0.2.0/24 -all")
    zone.add_dmarc("example.com")
    results = check(auth, sign(message(), "evil.example.org", "s", key))
    assert one(results, "dkim").result == "pass"
    assert one(results, "spf").result == "fail"
    assert one(results, "dmarc") == Check("dmarc", "fail", "example.com", detail="p=reject")


def test_dmarc_none_without_record(auth: Authenticator, zone: Zone, dns_server: LocalDNS) -> None:
    zone.add_spf("example.com")
    assert one(check(auth, message()), "dmarc") == Check("dmarc", "none", "example.com", detail="no record")
    assert ("_dmarc.example.com", "TXT") in dns_server.asked()


def test_dmarc_falls_back_to_the_organizational_domain(auth: Authenticator, zone: Zone, dns_server: LocalDNS) -> None:
    # Given a record only at example.com, with a subdomain policy
    zone.add_dmarc("example.com", "v=DMARC1; p=reject; sp=quarantine")
    key = zone.add_dkim_key("example.com", "sel")
    sub = message("news@news.example.com")
    # Then mail from news.example.com signed by the parent passes (relaxed), and unsigned mail fails with sp=
    pass_ = one(check(auth, sign(sub, "example.com", "sel", key)), "dmarc")
    assert (pass_.result, pass_.domain) == ("pass", "news.example.com")
    assert one(check(auth, sub), "dmarc") == Check("dmarc", "fail", "news.example.com", detail="p=quarantine")
    assert dns_server.asked("_dmarc.news.example.com")


def test_dmarc_organizational_domain_follows_the_public_suffix_list(auth: Authenticator, zone: Zone) -> None:
    zone.add_dmarc("shop.co.uk")
    assert auth.org_domain("mail.shop.co.uk") == "shop.co.uk"
    assert one(check(auth, message("a@mail.shop.co.uk")), "dmarc") == Check(
        "dmarc", "fail", "mail.shop.co.uk", detail="p=reject"
    )
    # And a DKIM pass by another customer of the same public suffix is not aligned
    key = zone.add_dkim_key("other.co.uk", "s")
    assert one(check(auth, sign(message("a@mail.shop.co.uk"), "other.co.uk", "s", key)), "dmarc").result == "fail"


def test_dmarc_needs_one_from_domain(auth: Authenticator) -> None:
    two = b"From: a@example.com\r\n" + message()
    assert one(check(auth, two), "dmarc") == Check("dmarc", "permerror", None, detail="several From headers")
    mixed = message(extra_headers="").replace(b"From: Anna <anna@example.com>", b"From: a@example.com, b@example.org")
    assert one(check(auth, mixed), "dmarc").detail == "From addresses in several domains"


def test_dmarc_ignores_records_that_are_not_dmarc(auth: Authenticator, zone: Zone) -> None:
    zone.add_txt("_dmarc.example.org", "google-site-verification=abc")
    assert one(check(auth, message("a@example.org")), "dmarc").result == "none"
    zone.add_txt("_dmarc.example.com", "google-site-verification=abc")
    zone.add_dmarc("example.com", "v=DMARC1; p=none")
    assert one(check(auth, message()), "dmarc") == Check("dmarc", "fail", "example.com", detail="p=none")


# --- ARC ------------------------------------------------------------------------------------------------------


def _forwarded(zone: Zone) -> bytes:
    """A message signed by example.com, then sealed by a list and by a second forwarder, each as it relays."""
    key = zone.add_dkim_key("example.com", "sel")
    lists_key = zone.add_dkim_key("lists.example.org", "arc")
    fwd_key = zone.add_dkim_key("forward.example.net", "seal")
    raw = sign(message(), "example.com", "sel", key)
    raw = arc_seal(raw, "lists.example.org", "arc", lists_key, "mx.lists.example.org", results="dkim=pass")
    return arc_seal(raw, "forward.example.net", "seal", fwd_key, "mx.forward.example.net", results="dkim=pass")


def test_arc_pass_through_forwarders_names_the_latest_sealer(auth: Authenticator, zone: Zone) -> None:
    arc = one(check(auth, _forwarded(zone)), "arc")
    assert arc == Check("arc", "pass", "forward.example.net", "seal", "cv=pass i=2")


def test_arc_fails_when_tampered_after_sealing(auth: Authenticator, zone: Zone) -> None:
    raw = _forwarded(zone).replace(b"the offer", b"the invoice")
    arc = one(check(auth, raw), "arc")
    assert (arc.result, arc.domain, arc.selector) == ("fail", "forward.example.net", "seal")
    assert arc.detail.startswith("cv=fail i=2")


def test_arc_fails_when_a_seal_key_is_missing(auth: Authenticator, zone: Zone) -> None:
    raw = _forwarded(zone)
    zone.remove("arc._domainkey.lists.example.org")
    assert one(check(auth, raw), "arc").result == "fail"


def test_arc_none_without_a_chain(auth: Authenticator) -> None:
    assert one(check(auth, message()), "arc") == Check("arc", "none", None)


def test_arc_chain_longer_than_the_limit_fails_without_dns(auth: Authenticator, dns_server: LocalDNS) -> None:
    raw = b"ARC-Seal: i=51; cv=pass; a=rsa-sha256; d=example.net; s=x; b=AAAA\r\n" + message()
    arc = one(check(auth, raw, ip=None), "arc")
    assert (arc.result, arc.domain) == ("fail", "example.net")
    assert not dns_server.asked("x._domainkey.example.net")


# --- DNS trouble and the cache --------------------------------------------------------------------------------


def _everything(zone: Zone) -> bytes:
    zone.add_spf("example.com")
    zone.add_dmarc("example.com")
    return _forwarded(zone)


def test_dns_down_is_temperror_for_each_check_and_quick(dns_server: LocalDNS, zone: Zone) -> None:
    raw = _everything(zone)
    dns_server.mode = "drop"
    auth = Authenticator(Resolver([dns_server.address], timeout=0.5))
    started = time.monotonic()
    results = check(auth, raw)
    elapsed = time.monotonic() - started
    assert [(c.method, c.result) for c in results.checks] == [
        ("dkim", "temperror"),
        ("spf", "temperror"),
        ("dmarc", "temperror"),
        ("arc", "temperror"),
    ]
    assert results.temporary
    assert one(results, "dkim").detail == "DNS timeout"
    # The time budget (four timeouts) bounds the whole message, however many lookups remain
    assert elapsed < 2.5


def test_servfail_is_temperror_at_once(dns_server: LocalDNS, zone: Zone) -> None:
    raw = _everything(zone)
    dns_server.mode = "servfail"
    started = time.monotonic()
    results = check(Authenticator(Resolver([dns_server.address], timeout=0.5)), raw)
    assert time.monotonic() - started < 0.5
    assert {c.result for c in results.checks} == {"temperror"}
    assert one(results, "spf").detail == "DNS server failure"


def test_dmarc_is_temperror_when_an_unaligned_result_was_temporary(dns_server: LocalDNS, zone: Zone) -> None:
    zone.add_dmarc("example.com")
    auth = Authenticator(Resolver([dns_server.address], timeout=0.5))
    check(auth, message(), ip=None)  # caches the DMARC record
    dns_server.mode = "drop"
    results = check(auth, message())
    assert one(results, "spf").result == "temperror"
    assert one(results, "dmarc") == Check("dmarc", "temperror", "example.com", detail="p=reject, DKIM or SPF temperror")


def test_second_check_is_answered_from_the_cache(auth: Authenticator, dns_server: LocalDNS, zone: Zone) -> None:
    raw = _everything(zone)
    first = check(auth, raw)
    asked = len(dns_server.asked())
    assert asked >= 4
    assert check(auth, raw) == first
    assert len(dns_server.asked()) == asked


def test_negative_answers_are_cached(auth: Authenticator, dns_server: LocalDNS) -> None:
    # Given a domain with no SPF, DMARC or key record at all
    raw = b"DKIM-Signature: v=1; a=rsa-sha256; d=nowhere.example; s=s; h=from; bh=AAAA; b=AAAA\r\n" + message(
        "a@nowhere.example"
    )
    first = check(auth, raw, mail_from="a@nowhere.example")
    asked = len(dns_server.asked())
    assert check(auth, raw, mail_from="a@nowhere.example") == first
    assert len(dns_server.asked()) == asked


def test_checks_run_concurrently_on_threads(auth: Authenticator, zone: Zone) -> None:
    raw = _everything(zone)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: check(auth, raw), range(32)))
    assert {tuple(c.result for c in r.checks) for r in outcomes} == {("pass", "pass", "pass", "pass")}


def test_resolver_reads_nameserver_forms() -> None:
    Resolver(["127.0.0.1:5353", "[::1]:53", "::1", "192.0.2.1"], timeout=1)
    for bad in ("localhost:53", "127.0.0.1:0", "[::1", "1.2.3.4:x"):
        with pytest.raises(ValueError, match="bad nameserver"):
            Resolver([bad])


def test_resolver_never_asks_for_a_name_that_cannot_exist(dns_server: LocalDNS) -> None:
    resolver = Resolver([dns_server.address], timeout=1)
    for name in ("a" * 64 + ".example.com", ".".join(["abcdefgh"] * 30), "a..b", "bad name.example", "é.example"):
        assert resolver.query(name, "TXT") == []
    assert dns_server.asked() == []
    dns_server.zone.add_txt("long.example.com", "x" * 600)
    assert resolver.txt("long.example.com") == [b"x" * 600]


# --- results as data ------------------------------------------------------------------------------------------


def test_results_round_trip_through_json() -> None:
    results = AuthResults(
        (
            Check("dkim", "pass", "example.com", "sel"),
            Check("spf", "temperror", "example.com", detail="DNS timeout"),
            Check("arc", "none", None),
        ),
        "checked",
    )
    assert AuthResults.from_json(results.to_json()) == results
    assert results.passing("dkim") == (results.checks[0],)
    assert results.of("spf") == (results.checks[1],)
    assert results.temporary
    bad_documents: list[object] = [[], {"source": "checked"}, {"source": "x", "checks": [{"method": "dkim"}]}]
    for bad in bad_documents:
        with pytest.raises(ValueError, match=r"malformed|JSON object"):
            AuthResults.from_json(bad)


# --- a trusted relay's Authentication-Results -----------------------------------------------------------------

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


def test_cached_answers_expire_with_their_ttl(
    dns_server: LocalDNS, zone: Zone, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.dnsserver

    monkeypatch.setattr(tests.dnsserver, "TTL", 1)
    zone.add_spf("example.com")
    resolver = Resolver([dns_server.address], timeout=5.0)

    assert resolver.txt("example.com") == resolver.txt("example.com") == [b"v=spf1 ip4:127.0.0.1 -all"]
    assert len(dns_server.asked("example.com")) == 1
    time.sleep(1.2)
    assert resolver.txt("example.com") == [b"v=spf1 ip4:127.0.0.1 -all"]
    assert len(dns_server.asked("example.com")) == 2


def test_cached_only_checks_ask_no_server_and_say_what_they_could_not_check(
    auth: Authenticator, zone: Zone, dns_server: LocalDNS
) -> None:
    key = zone.add_dkim_key("example.com", "sel")
    zone.add_spf("example.com")
    zone.add_dmarc("example.com")
    signed = sign(message(), "example.com", "sel", key)

    # A cold cache: nothing asked, every lookup a temporary error
    cold = auth.check(signed, ip=IP, helo="mx.example.com", mail_from="anna@example.com", cached_only=True)
    assert dns_server.asked() == []
    assert cold.temporary
    # Once the full check has filled the cache, the cached-only one gives the same answers without asking
    full = auth.check(signed, ip=IP, helo="mx.example.com", mail_from="anna@example.com")
    asked = len(dns_server.asked())
    warm = auth.check(signed, ip=IP, helo="mx.example.com", mail_from="anna@example.com", cached_only=True)
    assert len(dns_server.asked()) == asked
    assert warm == full and not warm.temporary


# --- the fast path: RSA through OpenSSL, keys parsed once, SPF only when it can matter --------------------------


@pytest.fixture
def counted_keys(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The key names dkimpy parses a record of; and dkimpy's pure-Python RSA, made to fail the test if used."""
    import dkim

    from gateway.mailauth import keys

    parsed: list[bytes] = []
    evaluate = dkim.evaluate_pk

    def counting(name: bytes, record: bytes | None) -> object:
        parsed.append(name)
        return evaluate(name, record)

    def pure_python(*args: object) -> bool:
        raise AssertionError("dkimpy's pure-Python RSA was used")

    monkeypatch.setattr(dkim, "evaluate_pk", counting)
    monkeypatch.setattr(keys, "_DKIMPY_RSA_VERIFY", pure_python)
    return parsed


def test_rsa_verifies_through_openssl_and_the_key_is_parsed_once(
    auth: Authenticator, zone: Zone, counted_keys: list[bytes]
) -> None:
    key = zone.add_dkim_key("example.com", "sel")
    signed = sign(message(), "example.com", "sel", key)

    for _ in range(3):
        assert one(check(auth, signed), "dkim") == Check("dkim", "pass", "example.com", "sel")
    assert counted_keys == [b"sel._domainkey.example.com."]

    # A bad signature still fails on the same path, with the same words as dkimpy's
    tampered = one(check(auth, signed.replace(b"Subject: Offer", b"Subject: Invoice")), "dkim")
    assert (tampered.result, tampered.detail) == ("fail", "signature did not verify")
    stranger, _public = rsa_key_pair()
    assert one(check(auth, sign(message(), "example.com", "sel", stranger)), "dkim").result == "fail"
    assert counted_keys == [b"sel._domainkey.example.com."]


def test_a_key_changed_in_dns_is_used_once_its_cached_answer_expires(
    dns_server: LocalDNS, zone: Zone, monkeypatch: pytest.MonkeyPatch, counted_keys: list[bytes]
) -> None:
    import tests.dnsserver

    monkeypatch.setattr(tests.dnsserver, "TTL", 1)
    auth = Authenticator(Resolver([dns_server.address], timeout=5.0))  # a loaded CI machine answers late
    (old, old_public), (new, new_public) = rsa_key_pair(), rsa_key_pair()  # before the clock runs: slow
    by_old, by_new = sign(message(), "example.com", "sel", old), sign(message(), "example.com", "sel", new)
    zone.add_txt("sel._domainkey.example.com", f"v=DKIM1; k=rsa; p={old_public}")
    assert one(check(auth, by_old), "dkim").result == "pass"

    # When the domain publishes a new key under the same selector
    zone.remove("sel._domainkey.example.com")
    zone.add_txt("sel._domainkey.example.com", f"v=DKIM1; k=rsa; p={new_public}")
    assert one(check(auth, by_new), "dkim").result == "fail"  # the DNS answer is still the cached old one
    time.sleep(1.2)

    # Then, the old answer expired, the new record is parsed and only the new key verifies
    assert one(check(auth, by_new), "dkim").result == "pass"
    stale = one(check(auth, by_old), "dkim")
    assert (stale.result, stale.detail) == ("fail", "signature did not verify")
    assert counted_keys == [b"sel._domainkey.example.com."] * 2


@pytest.mark.parametrize("algorithm", ["sha256", "sha1"])
def test_the_openssl_path_agrees_with_dkimpy_on_odd_signatures(algorithm: str) -> None:
    import hashlib

    import dkim
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from gateway.mailauth.keys import _DKIMPY_RSA_VERIFY, _RSAKey

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    parsed = {"modulus": numbers.n, "publicExponent": numbers.e}
    fast = _RSAKey(parsed, private.public_key())
    chosen = hashes.SHA256() if algorithm == "sha256" else hashes.SHA1()  # rsa-sha1 is still read
    good = private.sign(b"signed headers", padding.PKCS1v15(), chosen)
    value = int.from_bytes(good, "big")
    variants = {
        "valid": good,
        "one bit flipped": bytes([good[0] ^ 1]) + good[1:],
        "last byte cut": good[:-1],
        "a zero byte in front": b"\0" + good,  # the same number: dkimpy reads any length
        "plus the modulus": (value + numbers.n).to_bytes(257, "big"),  # the same residue
        "the modulus": numbers.n.to_bytes(256, "big"),
        "empty": b"",
    }
    for what, signature in variants.items():
        for data in (b"signed headers", b"other headers"):
            digest = dkim.HashThrough(getattr(hashlib, algorithm)())
            digest.update(data)
            expected = bool(_DKIMPY_RSA_VERIFY(digest, signature, parsed))
            assert fast.verify(digest, signature) is expected, (what, data)
    assert fast.verify(_hashed(algorithm, b"signed headers"), good) is True


def test_dkimpys_two_names_are_wrapped_once_however_the_package_is_reached() -> None:
    # In a fresh interpreter: dkimpy's originals first, then every way in (the package, its modules, its callers),
    # then the key module run again as a reload would: each name is still one wrapper around dkimpy's own function
    import subprocess
    import sys

    program = """
import importlib, dkim
verify, load = dkim.RSASSA_PKCS1_v1_5_verify, dkim.load_pk_from_dns
import gateway.mailauth, gateway.mailauth.signatures, gateway.trust, gateway.admission
from gateway.mailauth import keys
importlib.reload(keys)
for name, original in (("RSASSA_PKCS1_v1_5_verify", verify), ("load_pk_from_dns", load)):
    wrapper = getattr(dkim, name)
    assert wrapper is not original and wrapper.__module__ == "gateway.mailauth.keys", (name, wrapper)
    assert wrapper.__wrapped__ is original, (name, wrapper.__wrapped__)
    assert not hasattr(original, "__wrapped__"), name
assert keys._DKIMPY_RSA_VERIFY is verify and keys._DKIMPY_LOAD_PK is load
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def _hashed(algorithm: str, data: bytes) -> object:
    import hashlib

    import dkim

    digest = dkim.HashThrough(getattr(hashlib, algorithm)())
    digest.update(data)
    return digest


def test_an_ed25519_key_gives_what_dkimpy_gives(auth: Authenticator, zone: Zone) -> None:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    zone.add_txt("ed._domainkey.example.com", f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}")
    forged = base64.b64encode(b"\1" * 64).decode()
    raw = (
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/simple; d=example.com; s=ed; h=from:to:subject; "
        f"bh=AAAA; b={forged}\r\n"
    ).encode() + message()
    try:
        import nacl.signing  # noqa: F401
    except ImportError:  # dkimpy verifies ed25519 through pynacl only
        for _ in range(2):
            dkim = one(check(auth, raw), "dkim")
            assert (dkim.result, dkim.detail) == (
                "permerror",
                "pynacl module required for ed25519 signing, see README.md",
            )
    else:
        assert one(check(auth, raw), "dkim").result == "fail"


def _signed_everything(zone: Zone, *, signer: str = "example.com", spf: str = "v=spf1 ip4:127.0.0.1 -all") -> bytes:
    key = zone.add_dkim_key(signer, "sel")
    zone.add_spf("example.com", spf)
    zone.add_dmarc("example.com")
    return sign(message(), signer, "sel", key)


def test_spf_is_not_evaluated_when_the_caller_says_the_other_checks_decide(
    auth: Authenticator, zone: Zone, dns_server: LocalDNS
) -> None:
    raw = _signed_everything(zone)
    seen: list[AuthResults] = []

    def settled(results: AuthResults) -> str | None:
        seen.append(results)
        return "dkim pass d=example.com s=sel"

    results = check(auth, raw, settled=settled)

    assert [c.method for c in seen[0].checks] == ["dkim", "dmarc", "arc"]
    assert one(results, "spf") == Check(
        "spf", "skipped", "example.com", detail="not evaluated: dkim pass d=example.com s=sel decides"
    )
    assert [(c.method, c.result) for c in results.checks] == [
        ("dkim", "pass"),
        ("spf", "skipped"),
        ("dmarc", "pass"),
        ("arc", "none"),
    ]
    assert ("example.com", "TXT") not in dns_server.asked()
    assert AuthResults.from_json(results.to_json()) == results
    # Asked without it (mailassist explain), SPF is evaluated as always
    assert one(check(auth, raw), "spf").result == "pass"


def test_spf_is_evaluated_whenever_it_could_change_dmarc_or_the_decision(dns_server: LocalDNS, zone: Zone) -> None:
    calls: list[AuthResults] = []

    def decides(results: AuthResults) -> str | None:
        calls.append(results)
        return "something"

    def fresh() -> Authenticator:
        return Authenticator(Resolver([dns_server.address], timeout=5.0))

    # DKIM by another domain: DMARC fails without SPF, so SPF is evaluated and the caller is not asked
    raw = _signed_everything(zone, signer="esp.example.net")
    results = check(fresh(), raw, settled=decides)
    assert (one(results, "spf").result, one(results, "dmarc").result) == ("pass", "pass")
    assert one(results, "dmarc").detail == "p=reject, aligned spf example.com"
    # and with an SPF failure too, DMARC fails as it always did (the gateway's 550 5.7.26)
    zone.clear()
    raw = _signed_everything(zone, signer="esp.example.net", spf="v=spf1 ip4:192.0.2.1 -all")
    results = check(fresh(), raw, settled=decides)
    assert (one(results, "spf").result, one(results, "dmarc")) == (
        "fail",
        Check("dmarc", "fail", "example.com", detail="p=reject"),
    )
    assert calls == []
    # A caller whose decision SPF might still change answers None: SPF is evaluated
    zone.clear()
    raw = _signed_everything(zone)
    results = check(fresh(), raw, settled=lambda results: None)
    assert one(results, "spf") == Check("spf", "pass", "example.com", detail="ip4:127.0.0.1")


def test_a_key_lookup_that_timed_out_inside_dkimpy_is_temperror_not_permerror() -> None:
    # dkimpy lets the DnsTimeoutError of our key lookup (or what it turns into) escape verify(): that is the DNS's
    # fault, not the message's, so the sender hears 451 and retries rather than a 550
    import dkim

    from gateway.mailauth import signatures

    class Timed:
        temporary = "DNS timeout"

    for raised in (dkim.DnsTimeoutError("DNS timeout"), dkim.KeyFormatError("missing public key"), ValueError("x")):
        check = signatures._dkim_error(raised, Timed(), "example.com", "sel")  # type: ignore[arg-type]
        assert (check.result, check.detail) == ("temperror", "DNS timeout")

    class Answered:
        temporary = None

    check = signatures._dkim_error(dkim.ValidationError("body hash mismatch (got x)"), Answered(), "example.com", "s")  # type: ignore[arg-type]
    assert (check.result, check.detail) == ("fail", "body hash mismatch")


def test_a_signature_not_below_the_modulus_is_invalid_though_dkimpy_would_reduce_it() -> None:
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    from gateway.mailauth import keys

    for _ in range(50):  # a key whose modulus leaves room for s + n in 256 bytes
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private.public_key().public_numbers()
        digest = hashlib.sha256(b"From: anna@example.com")
        signature = private.sign(digest.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        shifted = int.from_bytes(signature, "big") + numbers.n
        if shifted < 1 << 2048:
            break
    else:
        pytest.fail("no key left room for s + n")  # 50 tries: about 2e-11
    key = keys._RSAKey({"modulus": numbers.n, "publicExponent": numbers.e}, private.public_key())
    forged = shifted.to_bytes(256, "big")

    assert key.verify(digest, signature) is True
    assert key.verify(digest, forged) is False  # RFC 8017 §5.2.2: out of range
    assert keys._DKIMPY_RSA_VERIFY(digest, forged, dict(key)) is True  # what dkimpy alone would have said
