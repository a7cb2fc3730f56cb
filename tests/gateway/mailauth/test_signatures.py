"""DKIM signatures and ARC chains (``gateway.mailauth.signatures``) through ``Authenticator.check`` against
the local DNS server: pass, fail, permerror, the limits, and what dkimpy raises."""

from __future__ import annotations

from gateway.mailauth import Authenticator, Check, Resolver
from tests.dnsserver import LocalDNS, Zone, rsa_key_pair
from tests.mailauth_support import check, forwarded, message, one, sign


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


def test_arc_pass_through_forwarders_names_the_latest_sealer(auth: Authenticator, zone: Zone) -> None:
    arc = one(check(auth, forwarded(zone)), "arc")
    assert arc == Check("arc", "pass", "forward.example.net", "seal", "cv=pass i=2")


def test_arc_fails_when_tampered_after_sealing(auth: Authenticator, zone: Zone) -> None:
    raw = forwarded(zone).replace(b"the offer", b"the invoice")
    arc = one(check(auth, raw), "arc")
    assert (arc.result, arc.domain, arc.selector) == ("fail", "forward.example.net", "seal")
    assert arc.detail.startswith("cv=fail i=2")


def test_arc_fails_when_a_seal_key_is_missing(auth: Authenticator, zone: Zone) -> None:
    raw = forwarded(zone)
    zone.remove("arc._domainkey.lists.example.org")
    assert one(check(auth, raw), "arc").result == "fail"


def test_arc_none_without_a_chain(auth: Authenticator) -> None:
    assert one(check(auth, message()), "arc") == Check("arc", "none", None)


def test_arc_chain_longer_than_the_limit_fails_without_dns(auth: Authenticator, dns_server: LocalDNS) -> None:
    raw = b"ARC-Seal: i=51; cv=pass; a=rsa-sha256; d=example.net; s=x; b=AAAA\r\n" + message()
    arc = one(check(auth, raw, ip=None), "arc")
    assert (arc.result, arc.domain) == ("fail", "example.net")
    assert not dns_server.asked("x._domainkey.example.net")


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
