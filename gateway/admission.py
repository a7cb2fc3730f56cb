"""Gathering the evidence for ``gateway.trust`` about one message: the secret address, the peer, the users its
headers name, and DKIM, SPF, DMARC and ARC (``gateway.mailauth``). The I/O around the pure decision.

Cheap cases are decided on the event loop (a secret address; a trusted relay naming a user the cache knows). The
rest runs on a thread: database lookups, and DNS for the authentication checks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from gateway.mailauth import Authenticator, AuthResults, Settled, relay_results
from gateway.policy import RecipientPolicy, hash_address_token
from gateway.trust import Accept, Evidence, Refuse, TrustSettings, Verdict, decide, settled_without_spf
from gateway.users import UserCache, email_of
from linker.submitter import (
    POSTMASTER,
    TRACE_HEADERS,
    Candidate,
    envelope_candidates,
    lookup_keys,
    submitter_candidates,
)
from store import Trust

#: The most of a message's header section read for the decision (a header block past this is cut: the
#: addresses that matter come first in every real message).
MAX_HEADER_BYTES = 256 * 1024

#: Checks on the event loop only for a header section up to this size: dkimpy's header parsing grows faster than
#: linearly with long folded headers, and the loop must never stall on one message (a thread takes larger ones).
QUICK_HEADER_BYTES = 32 * 1024

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Loopback only: ``make run`` and a local MTA work with no setup; anything else must prove itself.
DEFAULT_TRUSTED_RELAYS = ("127.0.0.0/8", "::1/128")


def header_block(raw: bytes) -> bytes:
    """The header section only (a copy of a few hundred bytes, never of the whole message), at most
    ``MAX_HEADER_BYTES``."""
    ends = [(end, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (end := raw.find(sep, 0, MAX_HEADER_BYTES)) >= 0]
    if not ends:
        return bytes(raw[:MAX_HEADER_BYTES])
    end, length = min(ends)
    return bytes(raw[: end + length])


def peer_ip(peer: str | None) -> str | None:
    """The IP address of a ``host:port`` peer string (IPv4-mapped IPv6 as plain IPv4)."""
    if not peer:
        return None
    host = peer.rpartition(":")[0] if peer.count(":") == 1 or peer.startswith("[") else peer.rsplit(":", 1)[0]
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@dataclass(frozen=True, slots=True)
class AdmissionSettings:
    """``[trust]`` as the gateway uses it."""

    trust: TrustSettings
    trusted_relays: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in DEFAULT_TRUSTED_RELAYS)
    #: The ``authserv-id`` whose ``Authentication-Results`` a trusted relay adds; ``None``: none is read.
    authserv_id: str | None = None

    def is_relay(self, ip: str | None) -> bool:
        """Whether ``ip`` is in one of ``trusted_relays``."""
        if ip is None:
            return False
        address = ipaddress.ip_address(ip)
        return any(address in network for network in self.trusted_relays)


def trust_of(verdict: Accept, results: AuthResults | None) -> Trust:
    """What the receipt records of an accepted message."""
    auth: dict[str, Any] = {"route": verdict.route, "via": verdict.via, "detail": verdict.detail}
    if results is not None:
        auth.update(results.to_json())
    return Trust(verdict.submitter, verdict.proof, auth)


@dataclass(frozen=True, slots=True)
class Admitted:
    """An accepted message's verdict, and the receipt's record of it."""

    verdict: Accept
    trust: Trust


@dataclass(frozen=True, slots=True)
class Offer:
    """A message as its client offers it, what ``Admission`` decides on: the bytes, the envelope, the client (its
    ``host:port`` and HELO), and the user whose secret address is among the recipients (``None``: none)."""

    raw: bytes
    mail_from: str
    rcpt_tos: Sequence[str]
    peer: str | None
    helo: str | None
    secret_user: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Admission:
    """Decides, for each message, whether it is in (``Admitted``) or what to answer (``Refuse``)."""

    recipients: RecipientPolicy
    users: UserCache
    find_token_user: Callable[[str], object | None]
    authenticator: Authenticator | None
    settings: AdmissionSettings

    def secret_user(self, token: str) -> str | None:
        """The primary email of the user whose secret address token this is, or ``None`` (a database read)."""
        return email_of(self.find_token_user(hash_address_token(token)))

    def quick(self, offer: Offer) -> Admitted | None:
        """The verdict when it needs no waiting, else ``None``: then call ``admit`` on a thread. No waiting means
        a secret address, postmaster, a trusted relay naming a cached user, or the authentication checks answered
        from the DNS cache for a cached user. Never refuses: a refusal always asks the database and DNS again."""
        ip = peer_ip(offer.peer)
        relay = self.settings.is_relay(ip)
        known = self._without_lookups(offer, ip=ip, relay=relay)
        if known is not None or self.authenticator is None or relay:
            return known
        block = header_block(offer.raw)
        if len(block) > QUICK_HEADER_BYTES:
            return None
        return self._quick_checks(self.authenticator, offer, block, ip=ip)

    def _quick_checks(self, auth: Authenticator, offer: Offer, block: bytes, *, ip: str | None) -> Admitted | None:
        """:meth:`quick` for a message that needs the authentication checks: the verdict when the user lookups and
        the DNS answers are all cached, else ``None``."""
        # The envelope sender first: it is the first candidate, so when it is a user and proven, that is the
        # verdict whatever the headers name, and they need not be parsed (a BCC through the company's server).
        mail_from = offer.mail_from
        candidates, trace = envelope_candidates(mail_from), dict[str, list[str]]()
        users = self.users.cached(lookup_keys(candidates))
        envelope_only = bool(users)
        if users is not None and not users:
            candidates, trace = self._read(block, mail_from)
            users = self.users.cached(lookup_keys(candidates))
        if not users:
            return None
        evidence = Evidence(peer_ip=ip, trace=trace)
        # CPU only, and short: cheaper here than the hop to a thread and its fight with the event loop for the GIL.
        settled = self._settled(candidates, users, evidence)
        results = auth.check(offer.raw, ip=ip, helo=offer.helo, mail_from=mail_from, cached_only=True, settled=settled)
        if results.temporary:
            return None
        result = self._decided(candidates, users, replace(evidence, results=results), results)
        if not isinstance(result, Admitted) and envelope_only:
            # The envelope sender alone is not proven: the headers may name another user whom the same checks
            # prove (the results are complete: SPF is skipped only for a verdict that accepts).
            candidates, trace = self._read(block, mail_from)
            users = self.users.cached(lookup_keys(candidates))
            if not users:
                return None
            result = self._decided(candidates, users, replace(evidence, results=results, trace=trace), results)
        return result if isinstance(result, Admitted) else None

    def _without_lookups(self, offer: Offer, *, ip: str | None, relay: bool) -> Admitted | None:
        """Postmaster, a secret address, or a trusted relay naming a user the cache knows; else ``None``."""
        if any(self.recipients.is_postmaster(r) for r in offer.rcpt_tos):
            accepted = Accept(POSTMASTER, POSTMASTER, POSTMASTER, POSTMASTER, "mail to postmaster")
            return Admitted(accepted, trust_of(accepted, None))
        if offer.secret_user is not None:
            result = self._decided([], {}, Evidence(secret_user=offer.secret_user), None)
            return result if isinstance(result, Admitted) else None
        if self.settings.authserv_id is not None or not relay:
            return None
        evidence = Evidence(relay=True, peer_ip=ip)
        # The envelope sender first: when it is a user, the headers need not be parsed at all.
        listed = envelope_candidates(offer.mail_from)
        users = self.users.cached(lookup_keys(listed))
        if users is not None and not users:
            listed, _trace = self._read(header_block(offer.raw), offer.mail_from)
            users = self.users.cached(lookup_keys(listed))
        if not users:
            return None
        result = self._decided(listed, users, evidence, None)
        return result if isinstance(result, Admitted) else None

    def admit(self, offer: Offer) -> Admitted | Refuse:
        """The full decision (blocking: database lookups and DNS). Run on a thread."""
        ip = peer_ip(offer.peer)
        relay = self.settings.is_relay(ip)
        known = self._without_lookups(offer, ip=ip, relay=relay)
        if known is not None:
            return known
        block = header_block(offer.raw)
        candidates, trace = self._read(block, offer.mail_from)
        keys = lookup_keys(candidates)
        # Never refuse on what the cache remembers: a user imported a minute ago must not get a 550.
        users = self.users.find(keys) or self.users.find(keys, fresh=True)
        if not users:
            return self._decided(candidates, users, Evidence(), None)  # no user named: no DNS either
        results: AuthResults | None = None
        if relay:
            results = relay_results(block, self.settings.authserv_id) if self.settings.authserv_id else None
            evidence = Evidence(relay=results is None, peer_ip=ip, results=results, trace=trace)
        else:
            evidence = Evidence(peer_ip=ip, trace=trace)
            if self.authenticator is not None:
                settled = self._settled(candidates, users, evidence)
                results = self.authenticator.check(
                    offer.raw, ip=ip, helo=offer.helo, mail_from=offer.mail_from, settled=settled
                )
            evidence = replace(evidence, results=results)
        return self._decided(candidates, users, evidence, results)

    def _settled(self, candidates: Sequence[Candidate], users: Mapping[str, object], evidence: Evidence) -> Settled:
        """For ``Authenticator.check``: what decides the message from its results without SPF, if anything (then
        SPF is not evaluated; ``gateway.trust.settled_without_spf``)."""

        def settled(results: AuthResults) -> str | None:
            accepted = settled_without_spf(candidates, users, replace(evidence, results=results), self.settings.trust)
            return accepted.detail if accepted is not None else None

        return settled

    def _decided(
        self,
        candidates: Sequence[Candidate],
        users: Mapping[str, object],
        evidence: Evidence,
        results: AuthResults | None,
    ) -> Admitted | Refuse:
        verdict: Verdict = decide(candidates, users, evidence, self.settings.trust)
        if isinstance(verdict, Refuse):
            return verdict
        return Admitted(verdict, trust_of(verdict, results))

    def _read(self, block: bytes, mail_from: str) -> tuple[list[Candidate], dict[str, list[str]]]:
        """Who the envelope and the header section ``block`` name, in order (``linker.submitter``), and the values
        of each trace header, top to bottom (``Evidence.trace``)."""
        headers = BytesHeaderParser(policy=compat32).parsebytes(block)

        def values(name: str) -> list[str]:
            return [str(v) for v in headers.get_all(name, [])]

        return submitter_candidates(mail_from, values), {name.lower(): values(name) for name in TRACE_HEADERS}
