"""A local DNS server for tests: dnslib on a free 127.0.0.1 port (UDP and TCP) answering from a :class:`Zone`, which
can also publish DKIM keys, SPF and DMARC records. It never forwards: unknown names are NXDOMAIN."""

from __future__ import annotations

import base64
import socket
import threading
from dataclasses import dataclass
from typing import cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dnslib import AAAA, CNAME, MX, QTYPE, RCODE, RR, SOA, TXT, A, DNSError, DNSRecord
from dnslib.server import DNSHandler, DNSServer

#: TTL of every record served, and of negative answers (through the SOA minimum).
TTL = 300
#: The answer modes of :class:`LocalDNS`.
MODES = ("answer", "drop", "servfail")


def rsa_key_pair(bits: int = 2048) -> tuple[bytes, str]:
    """A new RSA key: the private key as PKCS#1 PEM (what dkimpy signs with) and the public key as base64 DER, the
    ``p=`` of a DKIM key record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(public).decode("ascii")


def _key(name: str) -> str:
    return name.lower().rstrip(".")


@dataclass(frozen=True)
class _Record:
    rtype: str
    value: object


class Zone:
    """Records by name, read by the server while a test writes them (so a lock)."""

    def __init__(self) -> None:
        self._records: dict[str, list[_Record]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, rtype: str, value: object) -> None:
        """Add one record: TXT (str or bytes, split into 255-byte strings), A, AAAA, MX ``(preference, host)`` or
        CNAME."""
        with self._lock:
            self._records.setdefault(_key(name), []).append(_Record(rtype, value))

    def add_txt(self, name: str, value: str | bytes) -> None:
        self.add(name, "TXT", value.encode() if isinstance(value, str) else value)

    def add_a(self, name: str, address: str) -> None:
        self.add(name, "AAAA" if ":" in address else "A", address)

    def add_mx(self, name: str, host: str, preference: int = 10) -> None:
        self.add(name, "MX", (preference, host))

    def add_cname(self, name: str, target: str) -> None:
        self.add(name, "CNAME", target)

    def remove(self, name: str) -> None:
        with self._lock:
            self._records.pop(_key(name), None)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def add_dkim_key(self, domain: str, selector: str, *, bits: int = 2048) -> bytes:
        """Publish a new RSA key at ``selector._domainkey.domain``; returns the private key (PEM) to sign with."""
        private, public = rsa_key_pair(bits)
        self.add_txt(f"{selector}._domainkey.{domain}", f"v=DKIM1; k=rsa; p={public}")
        return private

    def add_spf(self, domain: str, record: str = "v=spf1 ip4:127.0.0.1 -all") -> None:
        self.add_txt(domain, record)

    def add_dmarc(self, domain: str, record: str = "v=DMARC1; p=reject") -> None:
        self.add_txt(f"_dmarc.{domain}", record)

    def records(self, name: str) -> list[_Record] | None:
        """The records at ``name``, or ``None`` when the name does not exist."""
        with self._lock:
            found = self._records.get(_key(name))
            return list(found) if found is not None else None


def _rdata(record: _Record) -> object:
    if record.rtype == "TXT":
        data = record.value
        assert isinstance(data, bytes)
        return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])
    if record.rtype == "A":
        return A(str(record.value))
    if record.rtype == "AAAA":
        return AAAA(str(record.value))
    if record.rtype == "MX":
        preference, host = cast(tuple[int, str], record.value)
        return MX(host, preference)
    if record.rtype == "CNAME":
        return CNAME(str(record.value))
    raise ValueError(f"no rdata for {record.rtype}")


class _ZoneResolver:
    """dnslib's resolver interface over a :class:`LocalDNS`: its zone, its mode and its query log."""

    def __init__(self, server: LocalDNS) -> None:
        self.server = server

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        qname = str(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        self.server.note(qname.rstrip("."), qtype)
        mode = self.server.mode
        if mode == "drop":
            raise DNSError("dropped on purpose")  # DNSHandler logs it (quietly) and sends nothing
        reply = request.reply()
        if mode == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        name = qname
        for _ in range(8):  # follow CNAMEs inside the zone, as a recursive resolver would
            records = self.server.zone.records(name)
            if records is None:
                break
            cnames = [r for r in records if r.rtype == "CNAME"]
            if cnames and qtype != "CNAME":
                target = str(cnames[0].value).rstrip(".") + "."
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=_rdata(cnames[0]), ttl=TTL))
                name = target
                continue
            for record in records:
                if record.rtype == qtype:
                    reply.add_answer(RR(name, getattr(QTYPE, qtype), rdata=_rdata(record), ttl=TTL))
            break
        if not reply.rr:
            if records is None:
                reply.header.rcode = RCODE.NXDOMAIN
            # The SOA lets the resolver cache the negative answer (RFC 2308).
            apex = ".".join(name.rstrip(".").split(".")[-2:]) + "."
            soa = SOA("ns." + apex, "hostmaster." + apex, (1, 3600, 600, 86400, TTL))
            reply.add_auth(RR(apex, QTYPE.SOA, rdata=soa, ttl=TTL))
        return reply


class _Handler(DNSHandler):  # type: ignore[misc]  # dnslib is untyped
    """Answers bigger than a classic 512-byte UDP datagram are truncated, so the client retries over TCP. (dnslib's
    own truncation drops the question section, which dnspython rightly refuses.)"""

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        packed: bytes = self.server.resolver.resolve(request, self).pack()
        if self.protocol == "udp" and len(packed) > 512:
            truncated = request.reply()
            truncated.header.tc = 1
            packed = truncated.pack()
        return packed


class _QuietLogger:
    """dnslib's logger interface, silent."""

    def __getattr__(self, name: str) -> object:
        return lambda *args: None


class LocalDNS:
    """dnslib serving ``zone`` on 127.0.0.1 (UDP and TCP on one port). ``mode`` is ``answer``, ``drop`` (no reply:
    the client times out) or ``servfail``; ``queries`` lists every ``(name, type)`` asked."""

    def __init__(self, zone: Zone | None = None) -> None:
        self.zone = zone or Zone()
        self.mode = "answer"
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._servers: list[DNSServer] = []
        self.port = 0

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, as a :class:`gateway.mailauth.Resolver` nameserver."""
        return f"127.0.0.1:{self.port}"

    def note(self, name: str, qtype: str) -> None:
        with self._lock:
            self.queries.append((name.lower(), qtype))

    def asked(self, name: str | None = None) -> list[tuple[str, str]]:
        """The queries so far (for ``name`` only, when given)."""
        with self._lock:
            return [q for q in self.queries if name is None or q[0] == _key(name)]

    def reset(self) -> None:
        """An empty zone, mode ``answer`` and no queries: a fresh server for the next test."""
        self.zone.clear()
        self.mode = "answer"
        with self._lock:
            self.queries.clear()

    def start(self) -> LocalDNS:
        for _attempt in range(20):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))
                port = int(probe.getsockname()[1])
            try:
                servers = self._bind(port)
            except OSError:
                continue
            self.port, self._servers = port, servers
            for server in servers:
                server.start_thread()
            return self
        raise RuntimeError("no free port for the local DNS server")

    def _bind(self, port: int) -> list[DNSServer]:
        resolver, logger = _ZoneResolver(self), _QuietLogger()
        udp = DNSServer(resolver, address="127.0.0.1", port=port, logger=logger, handler=_Handler)
        try:
            tcp = DNSServer(resolver, address="127.0.0.1", port=port, tcp=True, logger=logger, handler=_Handler)
        except OSError:
            udp.server.server_close()
            raise
        return [udp, tcp]

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self._servers = []
