"""DKIM and ARC public keys: fetched within the message's DNS budget, parsed once per record, and RSA verified
through OpenSSL. dkimpy offers no hook for either, so this module wraps two of its module-level names, once, when
it is imported; the wrappers act only on our own objects and hand everything else to dkimpy unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dkim
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from gateway.mailauth.resolver import DNSTemporaryError, Lookups

#: Parsed DKIM and ARC public keys kept per Authenticator, by key name and record (a changed record is a new entry).
KEY_CACHE_SIZE = 1024


class KeyFetch:
    """dkimpy's ``dnsfunc``: key lookups within the message's budget, remembering why a key was not found. Keys
    are parsed once per record (``keys``): dkimpy's ``load_pk_from_dns`` comes here for a ``KeyFetch``."""

    def __init__(self, lookups: Lookups, keys: KeyCache) -> None:
        self.lookups = lookups
        self.keys = keys
        self.temporary: str | None = None
        self.missing = False

    def load(self, name: bytes, timeout: float) -> tuple[Any, Any, Any, Any]:
        """What ``dkim.load_pk_from_dns`` returns (key, bits, ``k=``, tlsrpt service), from the cache when the
        record is the one parsed before."""
        return self.keys.parse(name, self(name, timeout=timeout))

    def __call__(self, name: bytes, timeout: float = 0) -> bytes | None:
        try:
            records = self.lookups.txt(name.decode("ascii"))
        except UnicodeDecodeError:
            records = []
        except DNSTemporaryError as exc:
            self.temporary = exc.reason
            raise dkim.DnsTimeoutError(exc.reason) from exc
        if not records:
            self.missing = True
            return None
        # RFC 6376 §3.6.2.2 lets the verifier pick among several records: take a key if there is one.
        return next((r for r in records if b"p=" in r), records[0])


class _RSAKey(dict[str, int]):
    """An RSA public key as dkimpy parses it (``modulus``, ``publicExponent``), verified through OpenSSL instead of
    dkimpy's pure-Python ``pow``, several times slower per signature (``bench/RESULTS.md``)."""

    def __init__(self, parsed: Mapping[str, int], public: rsa.RSAPublicKey) -> None:
        super().__init__(parsed)
        self.public = public
        self.size = (parsed["modulus"].bit_length() + 7) // 8

    def verify(self, digest: Any, signature: bytes) -> bool:
        """dkimpy's ``RSASSA_PKCS1_v1_5_verify`` for this key: whether ``signature`` is an RSASSA-PKCS1-v1_5
        signature of the hash object ``digest``. What OpenSSL would judge differently (a signature not exactly
        the modulus's length: dkimpy reads any length as a number; another hash) goes to dkimpy."""
        algorithm = _PREHASHED.get(str(digest.name).lower())
        if algorithm is None or len(signature) != self.size:
            return bool(_DKIMPY_RSA_VERIFY(digest, signature, self))
        if int.from_bytes(signature, "big") >= self["modulus"]:
            # RFC 8017 §5.2.2: a signature representative out of range is invalid. (dkimpy's arithmetic would reduce
            # it modulo n first, and so accept s + n for a valid s: a forgery of sorts that no signer makes.)
            return False
        try:
            self.public.verify(signature, digest.digest(), padding.PKCS1v15(), Prehashed(algorithm))
        except InvalidSignature:
            return False
        return True


_PREHASHED: dict[str, hashes.HashAlgorithm] = {"sha256": hashes.SHA256(), "sha1": hashes.SHA1()}  # noqa: S303
#: At least this many bits for the OpenSSL path: smaller keys never pass (dkimpy's ``minkey``), and dkimpy's own
#: path keeps its exact errors for them.
_OPENSSL_MIN_BITS = 1024


class KeyCache:
    """Parsed DKIM and ARC public keys by (key name, TXT record): the same selector's record is parsed once, not
    per message, and a changed record is parsed anew. Thread-safe (dict operations), bounded."""

    def __init__(self, size: int = KEY_CACHE_SIZE) -> None:
        self.size = size
        self._keys: dict[tuple[bytes, bytes], tuple[Any, Any, Any, Any]] = {}

    def parse(self, name: bytes, record: bytes | None) -> tuple[Any, Any, Any, Any]:
        """dkimpy's ``evaluate_pk`` of ``record``, remembered; an RSA key of at least ``_OPENSSL_MIN_BITS`` as an
        :class:`_RSAKey`. Its errors (no record, a malformed key) are raised every time, never remembered."""
        if not record:
            return dkim.evaluate_pk(name, record)  # type: ignore[no-any-return]  # raises "missing public key"
        entry = (name, record)
        hit = self._keys.get(entry)
        if hit is not None:
            return hit
        pk, keysize, ktag, tlsrpt = dkim.evaluate_pk(name, record)
        if ktag == b"rsa" and keysize >= _OPENSSL_MIN_BITS:
            try:
                public = rsa.RSAPublicNumbers(pk["publicExponent"], pk["modulus"]).public_key()
            except ValueError:  # an exponent OpenSSL refuses: dkimpy's arithmetic judges it as before
                pass
            else:
                pk = _RSAKey(pk, public)
        parsed = (pk, keysize, ktag, tlsrpt)
        if len(self._keys) >= self.size:
            self._keys.clear()
        self._keys[entry] = parsed
        return parsed


_DKIMPY_RSA_VERIFY = getattr(dkim.RSASSA_PKCS1_v1_5_verify, "__wrapped__", dkim.RSASSA_PKCS1_v1_5_verify)
_DKIMPY_LOAD_PK = getattr(dkim.load_pk_from_dns, "__wrapped__", dkim.load_pk_from_dns)


def _rsa_verify(digest: Any, signature: bytes, public_key: Any) -> bool:
    """dkimpy's RSA verification, through OpenSSL for an :class:`_RSAKey` (only ours are)."""
    if isinstance(public_key, _RSAKey):
        return public_key.verify(digest, signature)
    return bool(_DKIMPY_RSA_VERIFY(digest, signature, public_key))


def _load_pk_from_dns(name: bytes, dnsfunc: Any = None, timeout: float = 5) -> tuple[Any, Any, Any, Any]:
    """dkimpy's key lookup, from the parsed-key cache for our own ``dnsfunc`` (a :class:`KeyFetch`)."""
    if isinstance(dnsfunc, KeyFetch):
        return dnsfunc.load(name, timeout)
    if dnsfunc is None:
        return _DKIMPY_LOAD_PK(name, timeout=timeout)  # type: ignore[no-any-return]
    return _DKIMPY_LOAD_PK(name, dnsfunc, timeout=timeout)  # type: ignore[no-any-return]


_rsa_verify.__wrapped__ = _DKIMPY_RSA_VERIFY  # type: ignore[attr-defined]  # found again on a reload
_load_pk_from_dns.__wrapped__ = _DKIMPY_LOAD_PK  # type: ignore[attr-defined]
# dkimpy has no hook for either: DomainSigner.verify_sig and verify_sig_process call these two module-level names
# of dkim/__init__.py. Both wrappers act only on our own objects (a KeyFetch, an _RSAKey) and hand anything else
# to dkimpy unchanged, so other users of dkimpy in the process (tests signing mail) see no difference.
dkim.RSASSA_PKCS1_v1_5_verify = _rsa_verify
dkim.load_pk_from_dns = _load_pk_from_dns
