"""Pure trust decisions: which CRM user submitted a message, and what proves it (DESIGN.md invariant 8).

What a message *claims* (a user in From, To or a forwarding header) only names a candidate. A candidate is
accepted when something the sender cannot forge vouches for it, and what counts depends on the route:

- **sender** (BCC, forward: the user is the envelope sender, From, Sender or Resent-From): the user's secret
  address, a trusted relay, or a DKIM or SPF pass aligned (DMARC-style, relaxed) with the user's own domain, which
  must be one of ``[organization] domains``.
- **mailbox** (redirect: the user is named in To, Cc, Delivered-To, an Exchange, Gmail or Postfix forwarding
  header): the user's secret address, a trusted relay, or an ARC or DKIM pass by an organisation domain or one of
  ``[trust] provider_domains``. A provider's pass vouches only for its own trace headers (Delivered-To,
  X-MS-Exchange-Inbox-Rules-Loop, X-Forwarded-For…), never for To or Cc, which anyone may write.

No I/O here: the gateway gathers the evidence (``gateway.admission``) and this module decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.mailauth import AuthResults, Check
from linker.submitter import SENDER_HEADERS, TRACE_HEADERS, Candidate, header_addresses, without_plus_tag

#: What proved a submitter, as recorded on the receipt.
SECRET_ADDRESS = "secret-address"  # noqa: S105 - the name of a proof, not a secret
TRUSTED_RELAY = "trusted-relay"

#: The sources of a candidate that make it a sender (BCC and forwards); every other source is a mailbox.
_SENDER_SOURCES = frozenset({"envelope", *SENDER_HEADERS})
_TRACE_SOURCES = frozenset(TRACE_HEADERS)


@dataclass(frozen=True, slots=True)
class TrustSettings:
    """The decision's configuration: the organisation's domains and its mail providers' (``[trust]``)."""

    org_domains: tuple[str, ...] = ()
    provider_domains: tuple[str, ...] = ()

    def org_domain_of(self, domain: str) -> str | None:
        """The configured organisation domain that ``domain`` is or is under (the longest), or ``None``."""
        return _parent_in(domain, self.org_domains)

    def provider_domain_of(self, domain: str) -> str | None:
        """The configured provider domain that ``domain`` is or is under, or ``None``."""
        return _parent_in(domain, self.provider_domains)


def _parent_in(domain: str, parents: Iterable[str]) -> str | None:
    domain = domain.strip().rstrip(".").lower()
    best = None
    for parent in parents:
        if (domain == parent or domain.endswith("." + parent)) and (best is None or len(parent) > len(best)):
            best = parent
    return best


@dataclass(frozen=True, slots=True)
class Accept:
    """The message is the organisation's: ``submitter`` (a user's address) came in by ``route``, proven by
    ``proof`` (``secret-address``, ``trusted-relay``, ``dkim``, ``spf`` or ``arc``)."""

    submitter: str
    via: str
    route: str
    proof: str
    #: What vouched, for people: ``dkim pass d=example.com s=mail``, ``peer 10.0.0.5 is a trusted relay``.
    detail: str


@dataclass(frozen=True, slots=True)
class Refuse:
    """Not proven: answer ``reply`` (5xx, or 451 when DNS trouble may be why) and count it under ``reason``."""

    reply: str
    reason: str


Verdict = Accept | Refuse


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the gateway knows about one message before deciding."""

    #: The user address a valid secret assistant address names, if a recipient is one.
    secret_user: str | None = None
    #: Whether the peer is one of ``trusted_relays``, and its address (for the detail).
    relay: bool = False
    peer_ip: str | None = None
    #: DKIM, SPF, DMARC and ARC results (our own checks, or a trusted relay's); ``None``: not checked.
    results: AuthResults | None = None
    #: The values of each trace header (``TRACE_HEADERS``, lower-case names), top to bottom: what a provider's
    #: signature may vouch for.
    trace: Mapping[str, Sequence[str]] = field(default_factory=dict)


def decide(
    candidates: Sequence[Candidate], users: Mapping[str, object], evidence: Evidence, settings: TrustSettings
) -> Verdict:
    """Accept the first candidate that is a user and is proven for its route; else refuse with the reason that
    the most relevant candidate (the first user) failed."""
    if evidence.secret_user is not None:
        return Accept(evidence.secret_user, SECRET_ADDRESS, "secret-address", SECRET_ADDRESS, "personal address")
    named = _user_candidates(candidates, users)
    if not named:
        return Refuse(unknown_submitter(candidates), "unknown_submitter")
    if evidence.relay:
        first = named[0]
        route = _route(first)
        return Accept(first.address, first.source, route, TRUSTED_RELAY, f"peer {evidence.peer_ip} is a trusted relay")
    results = evidence.results or AuthResults((), "none")
    for candidate in named:
        accepted = _prove(candidate, results, settings, evidence.trace)
        if accepted is not None:
            return accepted
    if results.temporary:
        return Refuse(
            "451 4.7.0 Could not check the message's authentication (DNS trouble): please try again later",
            "dns_temporary",
        )
    return _refusal(named[0], results, settings)


def settled_without_spf(
    candidates: Sequence[Candidate], users: Mapping[str, object], evidence: Evidence, settings: TrustSettings
) -> Accept | None:
    """The verdict of ``decide`` when no SPF result could change it, from ``evidence`` whose results hold no SPF
    check; else ``None``. That is when the first user named is proven by DKIM or ARC: ``decide`` tries the
    candidates in order and stops at the first it proves, and tries a candidate's DKIM and ARC passes before its
    SPF pass, so SPF could only have proven that candidate in the same way or a later one never reached."""
    results = evidence.results
    if evidence.secret_user is not None or evidence.relay or results is None or results.of("spf"):
        return None
    named = _user_candidates(candidates, users)
    return _prove(named[0], results, settings, evidence.trace) if named else None


def _user_candidates(candidates: Iterable[Candidate], users: Mapping[str, object]) -> list[Candidate]:
    """Each candidate that is a user's address (as written or without its ``+tag``), in order."""
    out: list[Candidate] = []
    for candidate in candidates:
        for key in (candidate.address, without_plus_tag(candidate.address)):
            if key in users:
                out.append(Candidate(key, candidate.source))
                break
    return out


def _route(candidate: Candidate) -> str:
    return "sender" if candidate.source in _SENDER_SOURCES else "mailbox"


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _describe(check: Check) -> str:
    text = f"{check.method} pass d={check.domain}"
    return text + (f" s={check.selector}" if check.selector else "")


def _prove(
    candidate: Candidate, results: AuthResults, settings: TrustSettings, trace: Mapping[str, Sequence[str]]
) -> Accept | None:
    """The candidate accepted on DKIM, SPF or ARC for its route, or ``None``."""
    domain = _domain(candidate.address)
    if _route(candidate) == "sender":
        org = settings.org_domain_of(domain)
        if org is None:
            return None
        for check in (*results.passing("dkim"), *results.passing("spf")):
            if check.domain and settings.org_domain_of(check.domain) == org:
                return Accept(candidate.address, candidate.source, "sender", check.method, _describe(check))
        return None
    # A mailbox: the organisation's own servers vouch for any header, a provider's only for a trace header it signed.
    for check in (*results.passing("arc"), *results.passing("dkim")):
        if not check.domain:
            continue
        by_org = settings.org_domain_of(check.domain) is not None
        by_provider = settings.provider_domain_of(check.domain) is not None
        if by_org or (by_provider and _signed_trace(candidate, check, trace)):
            return Accept(candidate.address, candidate.source, "mailbox", check.method, _describe(check))
    return None


def _signed_trace(candidate: Candidate, check: Check, trace: Mapping[str, Sequence[str]]) -> bool:
    """Whether ``check``'s signature covers the trace header that names the candidate.

    Anyone may add headers that no signature covers, above or below it, so a provider's pass vouches for a trace
    header only when its ``h=`` lists that header, and then only for the instances it signs: listed k times, the
    bottom-most k (RFC 6376 §5.4.2). A copy added by whoever sent the sealed message on to us is never among them.
    """
    name = candidate.source.lower()
    if candidate.source not in _TRACE_SOURCES or name not in check.signed:
        return False
    signed_values = list(trace.get(name, ()))[-check.signed.count(name) :]
    return any(candidate.address in (address, without_plus_tag(address)) for address in header_addresses(signed_values))


#: The two ways to always get in, said at the end of every refusal.
_REMEDY = "send it from your company mailbox or to your personal assistant address"


def _refusal(candidate: Candidate, results: AuthResults, settings: TrustSettings) -> Refuse:
    """The specific 5xx for a user candidate that nothing proved."""
    address, domain = candidate.address, _domain(candidate.address)
    if _route(candidate) == "mailbox":
        vouchers = " or ".join((*settings.org_domains, *settings.provider_domains)) or "your organisation"
        return Refuse(
            f"550 5.7.1 Mail redirected from {address}'s mailbox has no ARC or DKIM pass by {vouchers}: "
            "use a rule of your company's mail server, or your personal assistant address",
            "redirect_unproven",
        )
    org = settings.org_domain_of(domain)
    if org is None:
        return Refuse(
            f"550 5.7.1 Mail from {address} cannot be verified: {domain} is not one of the organisation's domains; "
            "send it to your personal assistant address",
            "sender_not_org_domain",
        )
    dmarc = [c for c in results.of("dmarc") if c.result == "fail" and c.domain and settings.org_domain_of(c.domain)]
    if dmarc:
        return Refuse(
            f"550 5.7.26 Mail from {address} fails DMARC for {dmarc[0].domain}: {_REMEDY}",
            "dmarc_fail",
        )
    return Refuse(
        f"550 5.7.1 Mail from {address} is not DKIM-signed by {org} (nor sent from its SPF-listed servers): {_REMEDY}",
        "not_aligned",
    )


def unknown_submitter(candidates: Sequence[Candidate]) -> str:
    """The 550 for mail that names no CRM user at all."""
    sender = next((c.address for c in candidates if c.source == "envelope"), "<>")
    return (
        f"550 5.7.1 Sender {sender} is not a registered user and no recipient is one: "
        "the assistant files mail only for its CRM users"
    )
