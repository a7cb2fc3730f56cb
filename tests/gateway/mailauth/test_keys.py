"""DKIM and ARC keys (``gateway.mailauth.keys``): RSA through OpenSSL agreeing with dkimpy, each key record
parsed once, and dkimpy's two names wrapped once."""

from __future__ import annotations

import time

import pytest

from gateway.mailauth import Authenticator, Check, Resolver
from tests.dnsserver import LocalDNS, Zone, rsa_key_pair
from tests.mailauth_support import check, message, one, sign


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
