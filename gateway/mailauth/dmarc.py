"""DMARC (RFC 7489): the policy the From domain publishes, and whether an aligned DKIM or SPF pass meets it; the
organizational domains alignment compares, from the public suffix list."""

from __future__ import annotations

import email.utils
import functools
import importlib.resources
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from publicsuffix2 import PublicSuffixList

from gateway.mailauth.headers import as_text
from gateway.mailauth.resolver import DNSTemporaryError, Lookups, ascii_domain
from gateway.mailauth.results import Check

_DMARC_POLICIES = frozenset({"none", "quarantine", "reject"})
_DMARC_VERSION = re.compile(rb"\s*v\s*=\s*DMARC1\s*(;|$)")


class DMARC:
    """DMARC for the messages of one Authenticator: :meth:`policy` finds the From domain's, :meth:`result` applies
    it to the DKIM and SPF checks."""

    def __init__(self) -> None:
        # The public suffix list walk costs more than the rest of DMARC; a busy sender's domain is asked per message.
        self._org_domain = functools.lru_cache(maxsize=4096)(_public_suffixes().get_sld)

    def org_domain(self, domain: str) -> str:
        """The organizational domain (RFC 7489 §3.2): one label below the longest public suffix."""
        return str(self._org_domain(domain) or domain)

    def policy(self, fields: Sequence[tuple[str, bytes]], lookups: Lookups) -> Check | DMARCPolicy:
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
        return DMARCPolicy(domain, tags, policy)

    def result(self, found: Check | DMARCPolicy, checks: Sequence[Check]) -> Check:
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
    values = [as_text(value) for name, value in fields if name == "from"]
    if not values:
        return None, "no From header"
    if len(values) > 1:
        return None, "several From headers"
    addresses = [address for _name, address in email.utils.getaddresses(values) if "@" in address]
    domains = {ascii_domain(address.rpartition("@")[2]) for address in addresses}
    if not domains:
        return None, "no From address"
    if len(domains) > 1:
        return None, "From addresses in several domains"
    domain = domains.pop()
    return (domain, "") if domain else (None, "invalid From domain")


def _dmarc_records(lookups: Lookups, domain: str) -> list[dict[str, str]]:
    """The DMARC records at ``_dmarc.<domain>``, as lowercase tags."""
    records = []
    for txt in lookups.txt(f"_dmarc.{domain}"):
        if not _DMARC_VERSION.match(txt):
            continue
        tags: dict[str, str] = {}
        for part in as_text(txt).split(";"):
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
class DMARCPolicy:
    """The one DMARC record that applies to a From domain, and its policy."""

    domain: str
    tags: Mapping[str, str]
    policy: str
