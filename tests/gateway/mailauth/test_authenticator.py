"""The Authenticator (``gateway.mailauth.authenticator``): an oversized header section, and SPF evaluated only
when it can matter."""

from __future__ import annotations

from gateway.mailauth import MAX_HEADER_BYTES, Authenticator, AuthResults, Check, Resolver
from tests.dnsserver import LocalDNS, Zone
from tests.mailauth_support import check, message, one, sign


def test_oversized_header_section_is_not_authenticated(auth: Authenticator, zone: Zone) -> None:
    zone.add_spf("example.com")
    raw = b"X-Filler: " + b"x" * 100 + b"\r\n"
    raw = raw * (MAX_HEADER_BYTES // len(raw) + 1) + message()
    results = check(auth, raw)
    assert [c.result for c in results.checks] == ["permerror", "pass", "permerror", "permerror"]


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
