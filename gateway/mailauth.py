"""The I/O edge that authenticates one message: DKIM, SPF, DMARC and ARC over our own DNS resolver, and the reader of
a trusted relay's Authentication-Results. It only reports results; ``gateway.trust`` decides with them.

Everything here reads attacker input: no check raises for a bad message, DNS names are validated before any lookup,
and the work per message is bounded (signatures, ARC sets, header bytes, a DNS time budget).
"""

from __future__ import annotations

import email.utils
import functools
import importlib.resources
import ipaddress
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dkim
import dns.exception
import dns.name
import dns.nameserver
import dns.resolver
import spf
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.util import InvalidTagValueList, parse_tag_value
from publicsuffix2 import PublicSuffixList

#: The methods a :class:`Check` reports.
METHODS = ("dkim", "spf", "dmarc", "arc")
#: The RFC 8601 result words a :class:`Check` carries.
RESULTS = frozenset({"pass", "fail", "none", "neutral", "softfail", "temperror", "permerror", "policy"})
#: Header bytes read from a message: a bigger header section gets DKIM, ARC and DMARC "permerror".
MAX_HEADER_BYTES = 256 * 1024
#: The longest DNS name without its final dot (RFC 1035 §2.3.4); longer names are never looked up.
MAX_DOMAIN_LENGTH = 253
#: RFC 8617 §4.2.1: an ARC chain longer than this is failed.
ARC_INSTANCE_LIMIT = 50
#: At most this many checks are read from a relay's Authentication-Results.
MAX_RELAY_CHECKS = 50
#: Details are cut to this length (they can quote the sender's text).
MAX_DETAIL = 200
#: The result of a check that was not evaluated because the others already decided the message (an aligned DKIM
#: pass makes SPF moot). Not an RFC 8601 word: only ever in our own records, never read from a relay.
SKIPPED = "skipped"
#: Parsed DKIM and ARC public keys kept per Authenticator, by key name and record (a changed record is a new entry).
KEY_CACHE_SIZE = 1024

_ARC_HEADERS = frozenset({"arc-seal", "arc-message-signature", "arc-authentication-results"})
_DMARC_POLICIES = frozenset({"none", "quarantine", "reject"})
_DMARC_VERSION = re.compile(rb"\s*v\s*=\s*DMARC1\s*(;|$)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One authentication result, e.g. ``dkim pass example.com s=mail``."""

    method: str
    result: str
    domain: str | None
    selector: str | None = None
    detail: str = ""
    #: For a DKIM or ARC pass: the header names its ``h=`` signs (lower case, as often as listed; for ARC, the
    #: latest ARC-Message-Signature's). Only these headers, in their bottom-most instances, are what the signer
    #: vouches for (``gateway.trust``). Not part of the JSON: a relay's results and stored ones have none.
    signed: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def to_json(self) -> dict[str, str | None]:
        """The check as a JSON object."""
        return {
            "method": self.method,
            "result": self.result,
            "domain": self.domain,
            "selector": self.selector,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: object) -> Check:
        """The check :meth:`to_json` wrote; :class:`ValueError` for anything else."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a check is a JSON object, not {type(data).__name__}")
        method, result, detail = data.get("method"), data.get("result"), data.get("detail", "")
        domain, selector = data.get("domain"), data.get("selector")
        if not (isinstance(method, str) and isinstance(result, str) and isinstance(detail, str)):
            raise ValueError(f"malformed check: {data!r}")
        if not (domain is None or isinstance(domain, str)) or not (selector is None or isinstance(selector, str)):
            raise ValueError(f"malformed check: {data!r}")
        return cls(method, result, domain, selector, detail)


@dataclass(frozen=True, slots=True)
class AuthResults:
    """All checks of one message, from our own DNS checks (``source="checked"``) or a trusted relay's
    Authentication-Results (``source="relay"``)."""

    checks: tuple[Check, ...]
    source: str

    def of(self, method: str) -> tuple[Check, ...]:
        """The checks of one method."""
        return tuple(c for c in self.checks if c.method == method)

    def passing(self, method: str) -> tuple[Check, ...]:
        """The checks of one method whose result is ``pass``."""
        return tuple(c for c in self.checks if c.method == method and c.result == "pass")

    @property
    def temporary(self) -> bool:
        """Whether any check is ``temperror`` (the answer may differ later: the caller says 451)."""
        return any(c.result == "temperror" for c in self.checks)

    def to_json(self) -> dict[str, object]:
        """``{"source": ..., "checks": [...]}`` for storage and ``explain``."""
        return {"source": self.source, "checks": [c.to_json() for c in self.checks]}

    @classmethod
    def from_json(cls, data: object) -> AuthResults:
        """The results :meth:`to_json` wrote; :class:`ValueError` for anything else."""
        if not isinstance(data, Mapping):
            raise ValueError(f"authentication results are a JSON object, not {type(data).__name__}")
        source, checks = data.get("source"), data.get("checks")
        if not isinstance(source, str) or not isinstance(checks, list):
            raise ValueError(f"malformed authentication results: {data!r}")
        return cls(tuple(Check.from_json(c) for c in checks), source)


# --- DNS ----------------------------------------------------------------------------------------------------


class DNSTemporaryError(Exception):
    """A lookup whose answer may come later: a timeout, SERVFAIL, or the message's DNS time budget spent."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class Resolver:
    """DNS for every check: our nameservers (``host:port``, ``[v6]:port``; none: ``/etc/resolv.conf``), a lifetime
    of ``timeout`` seconds per query, and a bounded, thread-safe cache that honours TTLs and keeps negative answers
    (dnspython's LRU cache)."""

    def __init__(self, nameservers: Sequence[str] = (), *, timeout: float = 5.0, cache_size: int = 10_000) -> None:
        if timeout <= 0:
            raise ValueError(f"DNS timeout must be positive, not {timeout}")
        self.timeout = timeout
        if nameservers:
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [_nameserver(spec) for spec in nameservers]
        else:
            self._resolver = dns.resolver.Resolver()
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self._resolver.cache = dns.resolver.LRUCache(cache_size)
        # Answers by (name, type) with their expiry, in front of dnspython's cache: a hit costs a dict lookup
        # instead of a name parse and a resolver call, for every lookup of every message. Bounded like it.
        self._answers: dict[tuple[str, str], tuple[float, list[Any]]] = {}
        self._answers_max = cache_size

    def query(self, name: str, rdtype: str, *, lifetime: float | None = None) -> list[Any]:
        """The records (dnspython rdata) of type ``rdtype`` at ``name``, after CNAMEs: empty for NXDOMAIN, no data,
        or a name that cannot exist. A ``lifetime`` of 0 reads the cache only."""
        key = (name.lower(), rdtype)
        hit = self._answers.get(key)
        if hit is not None and hit[0] > time.time():
            return hit[1]
        qname = _dns_name(name)
        if qname is None:
            return []
        try:
            answer = self._resolver.resolve(
                qname,
                rdtype,
                raise_on_no_answer=False,
                search=False,
                lifetime=self.timeout if lifetime is None else max(0.0, min(lifetime, self.timeout)),
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.YXDOMAIN):
            return []
        except dns.exception.Timeout:
            raise DNSTemporaryError(name, "DNS timeout") from None
        except dns.resolver.NoNameservers:
            raise DNSTemporaryError(name, "DNS server failure") from None
        except dns.exception.DNSException as exc:
            raise DNSTemporaryError(name, f"DNS error ({type(exc).__name__})") from None
        records = list(answer.rrset) if answer.rrset is not None else []
        if self._answers_max:
            if len(self._answers) >= self._answers_max:
                self._answers.clear()  # starts over; dnspython's own LRU cache still holds the hot names
            self._answers[key] = (float(answer.expiration), records)
        return records

    def txt(self, name: str, *, lifetime: float | None = None) -> list[bytes]:
        """The TXT records at ``name``, each one's strings joined."""
        return [b"".join(r.strings) for r in self.query(name, "TXT", lifetime=lifetime)]


def _nameserver(spec: str) -> dns.nameserver.Do53Nameserver:
    """``host``, ``host:port``, ``v6``, ``[v6]`` or ``[v6]:port`` as a nameserver, or :class:`ValueError`."""
    host, port = spec.strip(), "53"
    if host.startswith("["):
        host, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"bad nameserver {spec!r}: expected [address]:port")
        port = rest[1:] or port
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    try:
        address, number = ipaddress.ip_address(host), int(port)
    except ValueError:
        raise ValueError(f"bad nameserver {spec!r}: expected an IP address and an optional port") from None
    if not 0 < number < 65536:
        raise ValueError(f"bad nameserver {spec!r}: port out of range")
    return dns.nameserver.Do53Nameserver(str(address), number)


@functools.lru_cache(maxsize=4096)
def _dns_name(name: str) -> dns.name.Name | None:
    """``name`` as an absolute DNS name, or ``None`` when it cannot exist (too long, empty or odd labels)."""
    name = name.removesuffix(".")
    if not 0 < len(name) <= MAX_DOMAIN_LENGTH or not name.isascii():
        return None
    labels = name.split(".")
    if any(not 0 < len(label) <= 63 or not all("!" <= c <= "~" and c != "\\" for c in label) for label in labels):
        return None
    try:
        return dns.name.Name([*(label.encode("ascii") for label in labels), b""])
    except (dns.exception.DNSException, ValueError):
        return None


def _ascii_domain(domain: str) -> str | None:
    """A domain lowercased, IDNA-encoded and without its final dot, or ``None`` when it cannot be one."""
    domain = domain.strip().strip('"').lower().removesuffix(".")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return domain if _dns_name(domain) is not None else None


class _Lookups:
    """One message's DNS: the shared resolver within the message's time budget (then the cache only)."""

    def __init__(self, resolver: Resolver, budget: float) -> None:
        self.resolver = resolver
        self.deadline = time.monotonic() + budget

    def query(self, name: str, rdtype: str) -> list[Any]:
        left = self.deadline - time.monotonic()
        try:
            return self.resolver.query(name, rdtype, lifetime=left)
        except DNSTemporaryError as exc:
            if left > 0:
                raise
            raise DNSTemporaryError(name, "DNS time budget spent") from exc

    def txt(self, name: str) -> list[bytes]:
        return [b"".join(r.strings) for r in self.query(name, "TXT")]


# --- headers ------------------------------------------------------------------------------------------------


def _header_fields(data: bytes) -> tuple[list[tuple[str, bytes]], bool]:
    """The unfolded header fields (lowercase name, raw value) of a message or header block, and whether the whole
    header section fits in :data:`MAX_HEADER_BYTES`. Lines without a colon are skipped."""
    whole = len(data) <= MAX_HEADER_BYTES
    lines = data.split(b"\n") if whole else data[:MAX_HEADER_BYTES].split(b"\n")[:-1]
    fields: list[tuple[str, list[bytes]]] = []
    complete = whole
    for raw_line in lines:
        line = raw_line.removesuffix(b"\r")
        if not line:
            complete = True
            break
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].append(line)
            continue
        name, colon, value = line.partition(b":")
        if colon and name and not any(c <= 32 or c >= 127 for c in name):
            fields.append((name.decode("ascii").lower(), [value]))
    return [(name, b"".join(parts)) for name, parts in fields], complete


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _short(text: str) -> str:
    """A detail safe to log and show: no control characters, at most :data:`MAX_DETAIL` characters."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


# --- DKIM and ARC through dkimpy ----------------------------------------------------------------------------


class _Notes:
    """A logger for dkimpy: keeps its error messages for the check's detail instead of logging sender input."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, *args: object, **kwargs: object) -> None:
        """Dropped."""

    info = warning = debug

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        try:
            self.errors.append(str(msg) % args if args else str(msg))
        except (TypeError, ValueError):
            self.errors.append(str(msg))

    def isEnabledFor(self, level: int) -> bool:
        return False


class _KeyFetch:
    """dkimpy's ``dnsfunc``: key lookups within the message's budget, remembering why a key was not found. Keys
    are parsed once per record (``keys``): dkimpy's ``load_pk_from_dns`` comes here for a ``_KeyFetch``."""

    def __init__(self, lookups: _Lookups, keys: _KeyCache) -> None:
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


class _KeyCache:
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
    """dkimpy's key lookup, from the parsed-key cache for our own ``dnsfunc`` (a :class:`_KeyFetch`)."""
    if isinstance(dnsfunc, _KeyFetch):
        return dnsfunc.load(name, timeout)
    if dnsfunc is None:
        return _DKIMPY_LOAD_PK(name, timeout=timeout)  # type: ignore[no-any-return]
    return _DKIMPY_LOAD_PK(name, dnsfunc, timeout=timeout)  # type: ignore[no-any-return]


_rsa_verify.__wrapped__ = _DKIMPY_RSA_VERIFY  # type: ignore[attr-defined]  # found again on a reload
_load_pk_from_dns.__wrapped__ = _DKIMPY_LOAD_PK  # type: ignore[attr-defined]
# dkimpy has no hook for either: DomainSigner.verify_sig and verify_sig_process call these two module-level names
# of dkim/__init__.py. Both wrappers act only on our own objects (a _KeyFetch, an _RSAKey) and hand anything else
# to dkimpy unchanged, so other users of dkimpy in the process (tests signing mail) see no difference.
dkim.RSASSA_PKCS1_v1_5_verify = _rsa_verify
dkim.load_pk_from_dns = _load_pk_from_dns


def _tags(value: bytes) -> dict[bytes, bytes] | None:
    try:
        tags: dict[bytes, bytes] = parse_tag_value(value)
    except (InvalidTagValueList, ValueError):
        return None
    return tags


def _tag_text(tags: Mapping[bytes, bytes], key: bytes) -> str | None:
    value = tags.get(key)
    if value is None:
        return None
    text = "".join(value.decode("ascii", "replace").split()).lower()
    return text[:MAX_DOMAIN_LENGTH] or None


def _verify_dkim(verifier: Any, idx: int, value: bytes, fetch: _KeyFetch, notes: _Notes) -> Check:
    """One DKIM-Signature (the ``idx``-th) as a check, its key fetched by ``fetch`` (one per signature)."""
    tags = _tags(value) or {}
    domain, selector = _tag_text(tags, b"d"), _tag_text(tags, b"s")
    if domain is None or selector is None:
        return Check("dkim", "permerror", domain, selector, "malformed signature")
    if _dns_name(f"{selector}._domainkey.{domain}") is None:
        return Check("dkim", "permerror", domain, selector, "invalid d= or s=")
    notes.errors.clear()
    try:
        valid = verifier.verify(idx=idx, dnsfunc=fetch)
    except Exception as exc:  # dkimpy raises odd exceptions on odd input; a bad message must not stop the gateway
        return _dkim_error(exc, fetch, domain, selector)
    if fetch.temporary:
        return Check("dkim", "temperror", domain, selector, fetch.temporary)
    if valid and b"l" in tags:
        # l= signs only the first bytes of the body: anyone may append text to a signed message and keep the pass,
        # so it vouches for nothing here (RFC 8601 "policy": valid, but refused by local policy).
        return Check("dkim", "policy", domain, selector, "l= leaves the rest of the body unsigned")
    if valid:
        return Check("dkim", "pass", domain, selector, signed=_signed_headers(tags))
    if fetch.missing:
        return Check("dkim", "permerror", domain, selector, "no key for signature")
    if notes.errors:
        return Check("dkim", "permerror", domain, selector, _short(notes.errors[-1]))
    return Check("dkim", "fail", domain, selector, "signature did not verify")


def _dkim_error(exc: Exception, fetch: _KeyFetch, domain: str, selector: str) -> Check:
    """A DKIM verification that raised: ``temperror`` when its key lookup could not be answered in time (the
    sender is then told to retry: 451), else what the message got wrong."""
    if fetch.temporary:
        return Check("dkim", "temperror", domain, selector, fetch.temporary)
    if isinstance(exc, dkim.ValidationError):
        text = str(exc).split(" (")[0]
        result = "fail" if text.startswith(("body hash mismatch", "x= value is past")) else "permerror"
        return Check("dkim", result, domain, selector, _short(text))
    if isinstance(exc, dkim.DKIMException):
        return Check("dkim", "permerror", domain, selector, _short(str(exc)))
    return Check("dkim", "permerror", domain, selector, f"unverifiable ({type(exc).__name__})")


def _signed_headers(tags: Mapping[bytes, bytes]) -> tuple[str, ...]:
    """The header names in a signature's ``h=`` tag, lower case, in order and as often as listed."""
    value = b"".join(tags.get(b"h", b"").split()).decode("ascii", "replace").lower()
    return tuple(name for name in value.split(":") if name)


def _message_signature_headers(fields: Sequence[tuple[str, bytes]], instance: int) -> tuple[str, ...]:
    """The ``h=`` of the ARC-Message-Signature of ``instance`` (empty when there is not exactly one)."""
    found = []
    for name, value in fields:
        tags = _tags(value) if name == "arc-message-signature" else None
        if tags is not None and tags.get(b"i", b"").strip() == str(instance).encode():
            found.append(tags)
    return _signed_headers(found[0]) if len(found) == 1 else ()


def _latest_seal(fields: Sequence[tuple[str, bytes]]) -> tuple[int, str | None, str | None] | None:
    """The highest ``i=`` among the ARC-Seals, with that seal's ``d=`` and ``s=``."""
    best: tuple[int, str | None, str | None] | None = None
    for name, value in fields:
        tags = _tags(value) if name == "arc-seal" else None
        instance = tags.get(b"i", b"").strip() if tags else b""
        if tags is None or not instance.isdigit() or len(instance) > 6:
            continue
        if best is None or int(instance) > best[0]:
            best = (int(instance), _tag_text(tags, b"d"), _tag_text(tags, b"s"))
    return best


# --- SPF through pyspf --------------------------------------------------------------------------------------


class _SPFQuery(spf.query):  # type: ignore[misc]  # pyspf is untyped
    """pyspf's evaluator, asking our resolver within the message's budget instead of pyspf's process-wide lookup
    (``spf.DNSLookup``, the system resolver): :meth:`dns` is pyspf's one door to DNS."""

    def __init__(self, lookups: _Lookups, *, i: str, s: str, h: str) -> None:
        super().__init__(i=i, s=s, h=h, strict=True)
        self.resolution = lookups  # not "lookups": pyspf counts its lookups in that attribute

    def dns(self, name: str, qtype: str, cnames: object = None, ignore_void: bool = False) -> list[Any]:
        """Records shaped as pyspf's own dnspython driver shapes them, with pyspf's void-lookup limit (RFC 7208
        §4.6.4); CNAMEs are already followed by the resolver."""
        name = str(name).removesuffix(".").lower()
        if not name:
            raise spf.PermError("empty domain name")
        key = (name, qtype)
        if key not in self.cache:
            try:
                records = self.resolution.query(name, qtype)
            except DNSTemporaryError as exc:
                raise spf.TempError(exc.reason) from exc
            self.cache[key] = [_spf_value(qtype, r) for r in records]
        result: list[Any] = self.cache[key]
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result

    def get_explanation(self, spec: str) -> None:
        """Never fetched: ``exp=`` is the sender's text, which we do not show (and it saves a lookup)."""
        return None


def _spf_value(qtype: str, rdata: Any) -> object:
    if qtype in ("A", "AAAA"):
        return rdata.address
    if qtype == "MX":
        return (rdata.preference, rdata.exchange.to_text(omit_final_dot=True))
    if qtype == "PTR":
        return rdata.target.to_text(omit_final_dot=True)
    if qtype in ("TXT", "SPF"):
        return tuple(rdata.strings)
    return rdata.to_text()


# --- DMARC --------------------------------------------------------------------------------------------------


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """The public suffix list, read once (0.2 s) and only read afterwards. authheaders ships a newer copy than
    publicsuffix2's own."""
    try:
        with (importlib.resources.files("authheaders") / "public_suffix_list.txt").open(encoding="utf-8") as f:
            return PublicSuffixList(f)
    except (ModuleNotFoundError, OSError):
        return PublicSuffixList()


def _from_domain(fields: Sequence[tuple[str, bytes]]) -> tuple[str | None, str]:
    """The RFC5322.From domain, or ``None`` and why there is none (RFC 7489 §6.6.1)."""
    values = [_text(value) for name, value in fields if name == "from"]
    if not values:
        return None, "no From header"
    if len(values) > 1:
        return None, "several From headers"
    addresses = [address for _name, address in email.utils.getaddresses(values) if "@" in address]
    domains = {_ascii_domain(address.rpartition("@")[2]) for address in addresses}
    if not domains:
        return None, "no From address"
    if len(domains) > 1:
        return None, "From addresses in several domains"
    domain = domains.pop()
    return (domain, "") if domain else (None, "invalid From domain")


def _dmarc_records(lookups: _Lookups, domain: str) -> list[dict[str, str]]:
    """The DMARC records at ``_dmarc.<domain>``, as lowercase tags."""
    records = []
    for txt in lookups.txt(f"_dmarc.{domain}"):
        if not _DMARC_VERSION.match(txt):
            continue
        tags: dict[str, str] = {}
        for part in _text(txt).split(";"):
            key, equals, value = part.partition("=")
            if equals:
                tags.setdefault(key.strip().lower(), value.strip().lower())
        records.append(tags)
    return records


def _policy(tags: Mapping[str, str], subdomain: bool) -> str | None:
    """The requested policy (``sp=`` for a subdomain when given); ``None`` when the record is unusable (RFC 7489
    §6.6.3: an invalid ``p=`` counts as ``none`` only with a ``rua=``)."""
    policy = tags.get("sp") if subdomain and tags.get("sp") in _DMARC_POLICIES else tags.get("p")
    if policy in _DMARC_POLICIES:
        return policy
    return "none" if "rua" in tags else None


@dataclass(frozen=True, slots=True)
class _DMARCPolicy:
    """The one DMARC record that applies to a From domain, and its policy."""

    domain: str
    tags: Mapping[str, str]
    policy: str


# --- the authenticator --------------------------------------------------------------------------------------

#: The caller's decision on a message's DKIM, DMARC and ARC results without SPF (``Authenticator.check``): what
#: decides it, for people (``dkim pass d=example.com s=mail``), or ``None`` when SPF might still matter.
Settled = Callable[[AuthResults], str | None]


class Authenticator:
    """Checks one message's DKIM signatures, SPF, ARC chain and DMARC over ``resolver``.

    Per message at most ``max_signatures`` DKIM signatures and ``max_arc_sets`` ARC sets are verified, and DNS gets
    ``time_budget`` seconds in all (default: four resolver timeouts); past it only cached answers count.
    """

    def __init__(
        self,
        resolver: Resolver,
        *,
        max_signatures: int = 5,
        max_arc_sets: int = 10,
        time_budget: float | None = None,
    ) -> None:
        self.resolver = resolver
        self.max_signatures = max_signatures
        self.max_arc_sets = min(max_arc_sets, ARC_INSTANCE_LIMIT)
        self.time_budget = 4 * resolver.timeout if time_budget is None else time_budget
        self._suffixes = _public_suffixes()
        # The public suffix list walk costs more than the rest of DMARC; a busy sender's domain is asked per message.
        self._org_domain = functools.lru_cache(maxsize=4096)(self._suffixes.get_sld)
        self._keys = _KeyCache()

    def check(
        self,
        raw: bytes,
        *,
        ip: str | None,
        helo: str | None,
        mail_from: str,
        cached_only: bool = False,
        settled: Settled | None = None,
    ) -> AuthResults:
        """DKIM (one check per signature), SPF for ``ip``/``helo``/``mail_from``, DMARC for the From domain and the
        ARC chain, as ``source="checked"``. Synchronous; never raises for a bad message: a malformed signature is
        that check's ``permerror`` or ``fail``, a DNS timeout or SERVFAIL its ``temperror``.

        ``cached_only``: ask no DNS server, only the cache. A name not in it makes its check ``temperror``, so the
        caller can run the checks this cheap way first (no waiting: on the event loop) and again in full when
        ``temporary``.

        ``settled``: the caller's decision on the DKIM, DMARC and ARC results without SPF. When DMARC is already
        ``pass`` (aligned DKIM), ``none`` or ``permerror``, SPF cannot change it; if ``settled`` then names what
        decides the message, SPF is not evaluated and is recorded as :data:`SKIPPED` with that reason."""
        raw = bytes(raw)
        lookups = _Lookups(self.resolver, 0.0 if cached_only else self.time_budget)
        fields, complete = _header_fields(raw)
        if not complete:
            spf_check = self._check_spf(lookups, ip=ip, helo=helo, mail_from=mail_from)
            too_large = "header section too large"
            return AuthResults(
                (
                    Check("dkim", "permerror", None, detail=too_large),
                    spf_check,
                    Check("dmarc", "permerror", None, detail=too_large),
                    Check("arc", "permerror", None, detail=too_large),
                ),
                "checked",
            )
        # DKIM and ARC first: they vouch for most mail, so SPF's many lookups must not spend their time budget.
        dkim_checks = self._check_dkim(raw, fields, lookups)
        arc_check = self._check_arc(raw, fields, lookups)
        dmarc: Check | _DMARCPolicy | None = None
        if settled is not None:
            dmarc = self._dmarc_policy(fields, lookups)
            dmarc_check = self._dmarc_result(dmarc, dkim_checks)
            # A DMARC pass through DKIM, or no DMARC policy to apply, is the same whatever SPF says.
            if dmarc_check.result in ("pass", "none", "permerror"):
                decided = settled(AuthResults((*dkim_checks, dmarc_check, arc_check), "checked"))
                if decided:
                    spf_check = self._check_spf(lookups, ip=ip, helo=helo, mail_from=mail_from, skip=decided)
                    return AuthResults((*dkim_checks, spf_check, dmarc_check, arc_check), "checked")
        spf_check = self._check_spf(lookups, ip=ip, helo=helo, mail_from=mail_from)
        if dmarc is None:
            dmarc = self._dmarc_policy(fields, lookups)
        dmarc_check = self._dmarc_result(dmarc, (*dkim_checks, spf_check))
        return AuthResults((*dkim_checks, spf_check, dmarc_check, arc_check), "checked")

    def org_domain(self, domain: str) -> str:
        """The organizational domain (RFC 7489 §3.2): one label below the longest public suffix."""
        return str(self._org_domain(domain) or domain)

    def _check_dkim(self, raw: bytes, fields: Sequence[tuple[str, bytes]], lookups: _Lookups) -> list[Check]:
        """One check per DKIM-Signature (the first ``max_signatures``), or a single ``none``."""
        if not any(name == "dkim-signature" for name, _ in fields):
            return [Check("dkim", "none", None, detail="no signature")]
        notes = _Notes()
        try:
            verifier = dkim.DKIM(raw, logger=notes)
        except Exception:  # dkimpy's header parser raises on a line it cannot split: nothing is verifiable then
            return [Check("dkim", "permerror", None, detail="malformed header section")]
        # dkimpy's own header list, so that idx means the same signature to it and to us.
        signatures = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
        return [
            _verify_dkim(verifier, idx, value, _KeyFetch(lookups, self._keys), notes)
            for idx, value in enumerate(signatures[: self.max_signatures])
        ]

    def _check_spf(
        self, lookups: _Lookups, *, ip: str | None, helo: str | None, mail_from: str, skip: str | None = None
    ) -> Check:
        """SPF for the MAIL FROM domain, or the HELO domain when MAIL FROM is ``<>`` (RFC 7208 §2.4). ``skip``:
        what makes SPF moot; then a result that needs DNS is not evaluated but :data:`SKIPPED`."""
        sender = mail_from.strip().removeprefix("<").removesuffix(">")
        local, at, raw_domain = sender.rpartition("@")
        if "@" in local:  # a quoted local part: pyspf would split at its first "@"
            local = "postmaster"
        if not sender:
            raw_domain = (helo or "").strip()
        if not raw_domain:
            return Check("spf", "none", None, detail="no sender or HELO domain")
        domain = _ascii_domain(raw_domain)
        if domain is None:
            return Check("spf", "none", None, detail="invalid domain")  # RFC 7208 §4.3
        if ip is None:
            return Check("spf", "none", domain, detail="no client IP")
        if skip:
            return Check("spf", SKIPPED, domain, detail=_short(f"not evaluated: {skip} decides"))
        helo_domain = (_ascii_domain(helo or "") or "") if sender else domain  # %{h} in macros
        try:
            query = _SPFQuery(lookups, i=ip, s=f"{local}{at}{domain}" if sender else "", h=helo_domain)
            result, _code, explanation = query.check()
        except Exception as exc:  # pyspf raises for odd input (an IP it cannot parse, recursion limits)
            return Check("spf", "permerror", domain, detail=f"unverifiable ({type(exc).__name__})")
        result = {"ambiguous": "neutral"}.get(result, result)
        if result in ("temperror", "permerror"):
            detail = str(explanation).removeprefix("SPF Temporary Error: ").removeprefix("SPF Permanent Error: ")
        else:
            detail = str(query.mechanism or "")
        return Check("spf", result if result in RESULTS else "permerror", domain, detail=_short(detail))

    def _dmarc_policy(self, fields: Sequence[tuple[str, bytes]], lookups: _Lookups) -> Check | _DMARCPolicy:
        """The DMARC policy for the From domain: the record at ``_dmarc.<domain>`` or else at its organizational
        domain; or the check when there is none to apply (``none``, ``permerror``, ``temperror``)."""
        domain, problem = _from_domain(fields)
        if domain is None:
            return Check("dmarc", "permerror", None, detail=problem)
        org = self.org_domain(domain)
        try:
            records, at = _dmarc_records(lookups, domain), domain
            if not records and org != domain:
                records, at = _dmarc_records(lookups, org), org
        except DNSTemporaryError as exc:
            return Check("dmarc", "temperror", domain, detail=exc.reason)
        if len(records) != 1:
            return Check("dmarc", "none", domain, detail="several records" if records else "no record")
        tags = records[0]
        policy = _policy(tags, subdomain=at != domain)
        if policy is None:
            return Check("dmarc", "none", domain, detail="invalid record")
        return _DMARCPolicy(domain, tags, policy)

    def _dmarc_result(self, found: Check | _DMARCPolicy, checks: Sequence[Check]) -> Check:
        """DMARC with ``found``'s policy: ``pass`` when a DKIM or SPF pass is aligned (``adkim``/``aspf``), else
        ``fail`` with ``p=<policy>``."""
        if isinstance(found, Check):
            return found
        domain, tags, policy = found.domain, found.tags, found.policy
        for method, mode in (("dkim", tags.get("adkim", "r")), ("spf", tags.get("aspf", "r"))):
            for check in checks:
                passed = check.method == method and check.result == "pass" and check.domain
                if passed and self._aligned(check.domain or "", domain, strict=mode == "s"):
                    return Check("dmarc", "pass", domain, detail=f"p={policy}, aligned {method} {check.domain}")
        if any(c.method in ("dkim", "spf") and c.result == "temperror" for c in checks):
            return Check("dmarc", "temperror", domain, detail=f"p={policy}, DKIM or SPF temperror")
        return Check("dmarc", "fail", domain, detail=f"p={policy}")

    def _aligned(self, authenticated: str, from_domain: str, *, strict: bool) -> bool:
        if strict:
            return authenticated == from_domain
        return self.org_domain(authenticated) == self.org_domain(from_domain)

    def _check_arc(self, raw: bytes, fields: Sequence[tuple[str, bytes]], lookups: _Lookups) -> Check:
        """The ARC chain's validation (RFC 8617 §5.2), named by its latest seal's ``d=`` and ``s=``."""
        if not any(name in _ARC_HEADERS for name, _ in fields):
            return Check("arc", "none", None)
        latest = _latest_seal(fields)
        if latest is None:
            return Check("arc", "fail", None, detail="cv=fail: no readable ARC-Seal")
        instance, domain, selector = latest
        if instance > self.max_arc_sets:
            return Check("arc", "fail", domain, selector, f"cv=fail i={instance}: too many ARC sets")
        fetch, notes = _KeyFetch(lookups, self._keys), _Notes()
        try:
            cv, _sets, reason = dkim.arc_verify(raw, logger=notes, dnsfunc=fetch)
        except Exception as exc:  # dkimpy raises odd exceptions on odd ARC sets
            if fetch.temporary:  # a key lookup that timed out raises out of dkimpy: the sender is to retry
                return Check("arc", "temperror", domain, selector, f"i={instance}: {fetch.temporary}")
            return Check("arc", "fail", domain, selector, f"cv=fail i={instance}: malformed ({type(exc).__name__})")
        if fetch.temporary:
            return Check("arc", "temperror", domain, selector, f"i={instance}: {fetch.temporary}")
        if cv == dkim.CV_Pass:
            signed = _message_signature_headers(fields, instance)
            return Check("arc", "pass", domain, selector, f"cv=pass i={instance}", signed=signed)
        if cv == dkim.CV_None:
            return Check("arc", "none", domain, selector, f"i={instance}: {_short(str(reason))}")
        return Check("arc", "fail", domain, selector, _short(f"cv=fail i={instance}: {reason}"))


# --- a trusted relay's Authentication-Results ---------------------------------------------------------------


def relay_results(header_block: bytes, authserv_id: str) -> AuthResults | None:
    """The results in the topmost Authentication-Results header(s) whose authserv-id is ``authserv_id`` (any case),
    as ``source="relay"``; ``None`` when there is none. Several headers count only while they follow one another
    directly (a relay that adds one per milter); any other header between them ends the run, so a forged one
    further down is ignored. ``authserv_id=""`` matches the headers that carry no authserv-id (Microsoft 365
    writes none)."""
    wanted = authserv_id.strip().lower()
    fields, _complete = _header_fields(header_block)
    checks: list[Check] | None = None
    for name, value in fields:
        if checks is not None and len(checks) >= MAX_RELAY_CHECKS:
            break
        parsed = _parse_authres(_text(value)) if name == "authentication-results" else None
        if parsed is None or parsed[0].lower() != wanted:
            if checks is not None:
                break
            continue
        checks = (checks or []) + parsed[1][: MAX_RELAY_CHECKS - len(checks or [])]
    if checks is None:
        return None
    return AuthResults(tuple(checks), "relay")


def _parse_authres(value: str) -> tuple[str, list[Check]] | None:
    """An Authentication-Results value (RFC 8601 §2.2) as its authserv-id and its checks of :data:`METHODS`."""
    segments = _split_results(value)
    head_pairs, _ = _pairs(_tokens(segments[0]))
    if head_pairs:  # no authserv-id: the first segment is already a result
        authserv_id = ""
    else:
        words = [text for kind, text in _tokens(segments[0]) if kind in ("word", "quoted")]
        if not words:
            return None
        authserv_id, segments = words[0], segments[1:]
    checks = []
    for segment in segments[:MAX_RELAY_CHECKS]:
        check = _relay_check(*_pairs(_tokens(segment)))
        if check is not None:
            checks.append(check)
    return authserv_id, checks


def _split_results(value: str) -> list[str]:
    """``value`` split at each ``;`` outside quoted strings and comments."""
    parts, start, depth, quoted, escaped = [], 0, 0, False, False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"' and not depth:
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch == ";" and not depth:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def _tokens(text: str) -> list[tuple[str, str]]:
    """Words, quoted strings (unquoted), comments (without their parentheses) and ``=`` of one result."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            content, i = _enclosed(text, i + 1, ")")
            tokens.append(("comment", content.strip()))
        elif ch == '"':
            content, i = _enclosed(text, i + 1, '"')
            tokens.append(("quoted", content))
        elif ch == "=":
            tokens.append(("=", ch))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '()"=':
                i += 1
            tokens.append(("word", text[start:i]))
    return tokens


def _enclosed(text: str, i: int, close: str) -> tuple[str, int]:
    """The content of a comment (nested ones included) or quoted string that starts at ``i``, unescaped, and the
    index after its end."""
    chars: list[str] = []
    depth = 1
    while i < len(text):
        c = text[i]
        i += 1
        if c == "\\" and i < len(text):
            chars.append(text[i])
            i += 1
            continue
        if c == "(" and close == ")":
            depth += 1
        elif c == close:
            depth -= 1
            if not depth:
                break
        chars.append(c)
    return "".join(chars), i


def _pairs(tokens: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The ``key=value`` pairs of one result, in order, and its comments."""
    pairs: list[tuple[str, str]] = []
    comments: list[str] = []
    key: str | None = None
    expect_value = False
    for kind, text in tokens:
        if kind == "comment":
            comments.append(text)
        elif expect_value and kind in ("word", "quoted") and key is not None:
            pairs.append((key, text))
            key, expect_value = None, False
        elif kind == "=":
            expect_value = key is not None
        else:
            key, expect_value = (text if kind == "word" else None), False
    return pairs, comments


def _relay_check(pairs: Sequence[tuple[str, str]], comments: Sequence[str]) -> Check | None:
    """One resinfo (``method=result reason=... ptype.property=value``) as a check, or ``None`` when it is not one
    of :data:`METHODS`."""
    if not pairs:
        return None
    method = pairs[0][0].partition("/")[0].lower()
    if method not in METHODS:
        return None
    word = pairs[0][1].lower()
    result = {"hardfail": "fail"}.get(word, word)
    props: dict[str, str] = {}
    reason = ""
    for name, value in pairs[1:]:
        key = name.lower()
        if key == "reason":
            reason = reason or value
        elif "." in key:
            props.setdefault(key, value)
    detail = reason or (comments[0] if comments else "")
    if result not in RESULTS:
        result, detail = "neutral", f"reported {word!r}" + (f": {detail}" if detail else "")
    if method == "dkim":
        domain = _relay_domain(props.get("header.d") or props.get("header.i"))
    elif method == "spf":
        domain = _relay_domain(props.get("smtp.mailfrom") or props.get("smtp.helo"))
    elif method == "dmarc":
        domain = _relay_domain(props.get("header.from"))
    else:
        domain = _relay_domain(props.get("header.d"))
    selector = props.get("header.s")
    return Check(method, result, domain, selector and selector[:MAX_DOMAIN_LENGTH].lower(), _short(detail))


def _relay_domain(value: str | None) -> str | None:
    """The domain of a property value (an address, ``@domain`` or a domain), if it can be one."""
    if not value:
        return None
    return _ascii_domain(value.rpartition("@")[2])
