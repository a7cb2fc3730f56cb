"""SPF through pyspf (RFC 7208), its DNS asked through our resolver within the message's time budget."""

from __future__ import annotations

from typing import Any

import spf

from gateway.mailauth.resolver import DNSTemporaryError, Lookups, ascii_domain
from gateway.mailauth.results import RESULTS, SKIPPED, Check, short


def check_spf(lookups: Lookups, *, ip: str | None, helo: str | None, mail_from: str, skip: str | None = None) -> Check:
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
    domain = ascii_domain(raw_domain)
    if domain is None:
        return Check("spf", "none", None, detail="invalid domain")  # RFC 7208 §4.3
    if ip is None:
        return Check("spf", "none", domain, detail="no client IP")
    if skip:
        return Check("spf", SKIPPED, domain, detail=short(f"not evaluated: {skip} decides"))
    helo_domain = (ascii_domain(helo or "") or "") if sender else domain  # %{h} in macros
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
    return Check("spf", result if result in RESULTS else "permerror", domain, detail=short(detail))


class _SPFQuery(spf.query):  # type: ignore[misc]  # pyspf is untyped
    """pyspf's evaluator, asking our resolver within the message's budget instead of pyspf's process-wide lookup
    (``spf.DNSLookup``, the system resolver): :meth:`dns` is pyspf's one door to DNS."""

    def __init__(self, lookups: Lookups, *, i: str, s: str, h: str) -> None:
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
