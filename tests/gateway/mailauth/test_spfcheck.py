"""SPF (``gateway.mailauth.spfcheck``) against the local DNS server, always asked through our resolver."""

from __future__ import annotations

import pytest

from gateway.mailauth import Authenticator, Check
from tests.dnsserver import LocalDNS, Zone
from tests.mailauth_support import IP, check, message, one


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
