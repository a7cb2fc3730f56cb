"""DNS for the checks (``gateway.mailauth.resolver``): trouble (down, SERVFAIL, the time budget), the cache and
its TTLs, and names that cannot exist."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.mailauth import Authenticator, Check, Resolver
from tests.dnsserver import LocalDNS, Zone
from tests.mailauth_support import IP, check, forwarded, message, one, sign


def _everything(zone: Zone) -> bytes:
    zone.add_spf("example.com")
    zone.add_dmarc("example.com")
    return forwarded(zone)


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
