"""DMARC (``gateway.mailauth.dmarc``): the policy found, alignment, organizational domains."""

from __future__ import annotations

from gateway.mailauth import Authenticator, Check
from tests.dnsserver import LocalDNS, Zone
from tests.mailauth_support import check, message, one, sign


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
