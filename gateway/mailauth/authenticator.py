"""The :class:`Authenticator`: one message's DKIM, ARC, DMARC and SPF checks, in the order that spends its DNS
time budget best, each through its own module."""

from __future__ import annotations

from collections.abc import Callable

from gateway.mailauth.dmarc import DMARC, DMARCPolicy
from gateway.mailauth.headers import header_fields
from gateway.mailauth.keys import KeyCache
from gateway.mailauth.resolver import Lookups, Resolver
from gateway.mailauth.results import AuthResults, Check
from gateway.mailauth.signatures import ARC_INSTANCE_LIMIT, check_arc, check_dkim
from gateway.mailauth.spfcheck import check_spf

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
        self._dmarc = DMARC()
        self._keys = KeyCache()

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
        lookups = Lookups(self.resolver, 0.0 if cached_only else self.time_budget)
        fields, complete = header_fields(raw)
        if not complete:
            return _too_large(check_spf(lookups, ip=ip, helo=helo, mail_from=mail_from))
        # DKIM and ARC first: they vouch for most mail, so SPF's many lookups must not spend their time budget.
        dkim_checks = check_dkim(raw, fields, lookups, self._keys, max_signatures=self.max_signatures)
        arc_check = check_arc(raw, fields, lookups, self._keys, max_arc_sets=self.max_arc_sets)
        dmarc: Check | DMARCPolicy | None = None
        if settled is not None:
            dmarc = self._dmarc.policy(fields, lookups)
            dmarc_check = self._dmarc.result(dmarc, dkim_checks)
            # A DMARC pass through DKIM, or no DMARC policy to apply, is the same whatever SPF says.
            if dmarc_check.result in ("pass", "none", "permerror"):
                decided = settled(AuthResults((*dkim_checks, dmarc_check, arc_check), "checked"))
                if decided:
                    spf_check = check_spf(lookups, ip=ip, helo=helo, mail_from=mail_from, skip=decided)
                    return AuthResults((*dkim_checks, spf_check, dmarc_check, arc_check), "checked")
        spf_check = check_spf(lookups, ip=ip, helo=helo, mail_from=mail_from)
        if dmarc is None:
            dmarc = self._dmarc.policy(fields, lookups)
        dmarc_check = self._dmarc.result(dmarc, (*dkim_checks, spf_check))
        return AuthResults((*dkim_checks, spf_check, dmarc_check, arc_check), "checked")

    def org_domain(self, domain: str) -> str:
        """The organizational domain (RFC 7489 §3.2): one label below the longest public suffix."""
        return self._dmarc.org_domain(domain)


def _too_large(spf_check: Check) -> AuthResults:
    """The results for a header section over ``MAX_HEADER_BYTES``: DKIM, DMARC and ARC cannot be read whole, so
    they are ``permerror``; SPF needs only the envelope."""
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
