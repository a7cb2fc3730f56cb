"""DNS for the checks: our :class:`Resolver` with its answer cache, one message's :class:`Lookups` within its time
budget, and the names worth looking up (validated first: they come from the message)."""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Sequence
from typing import Any

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

#: The longest DNS name without its final dot (RFC 1035 §2.3.4); longer names are never looked up.
MAX_DOMAIN_LENGTH = 253


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
        qname = dns_name(name)
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
def dns_name(name: str) -> dns.name.Name | None:
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


def ascii_domain(domain: str) -> str | None:
    """A domain lowercased, IDNA-encoded and without its final dot, or ``None`` when it cannot be one."""
    domain = domain.strip().strip('"').lower().removesuffix(".")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return domain if dns_name(domain) is not None else None


class Lookups:
    """One message's DNS: the shared resolver within the message's time budget (then the cache only)."""

    def __init__(self, resolver: Resolver, budget: float) -> None:
        self.resolver = resolver
        self.deadline = time.monotonic() + budget

    def query(self, name: str, rdtype: str) -> list[Any]:
        """:meth:`Resolver.query` with what is left of the budget; once it is spent, the cache only."""
        left = self.deadline - time.monotonic()
        try:
            return self.resolver.query(name, rdtype, lifetime=left)
        except DNSTemporaryError as exc:
            if left > 0:
                raise
            raise DNSTemporaryError(name, "DNS time budget spent") from exc

    def txt(self, name: str) -> list[bytes]:
        """The TXT records at ``name``, each one's strings joined."""
        return [b"".join(r.strings) for r in self.query(name, "TXT")]
