"""What the pipeline needs to know about this installation: our addresses, domains, codes and ignore rules."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from linker.addresses import domain_of, normalize_address, normalize_domain
from linker.codes import CodeRules
from linker.freemail import FREE_MAIL_DOMAINS


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """Mail whose sender matches ``pattern`` (a glob on the address or the domain), and ``subject`` if given,
    ends ``ignored``; addresses matching ``pattern`` never become leads."""

    name: str
    pattern: str
    subject: re.Pattern[str] | None = None

    def matches_address(self, address: str) -> bool:
        """Whether ``address`` (normalised) or its domain fits the glob."""
        pattern = self.pattern.lower()
        return fnmatch.fnmatchcase(address, pattern) or fnmatch.fnmatchcase(domain_of(address), pattern)

    def matches(self, sender: str | None, subject: str | None) -> bool:
        """Whether a message from ``sender`` with ``subject`` is to be ignored."""
        if sender is None or not self.matches_address(sender):
            return False
        return self.subject is None or bool(self.subject.search(subject or ""))


#: What ``[linker] automated`` and ``[linker] internal`` say to do with such mail: end it ``ignored`` (kept, with
#: the reason in the ingest log) or file it like any other.
Policy = Literal["ignore", "file"]

#: ``[linker] cpu_limit``'s default: five times the worst message ``bench/hostile.py`` found (under 2 s).
DEFAULT_CPU_LIMIT = 10.0


@dataclass(frozen=True, slots=True)
class LinkerSettings:
    assistant_addresses: frozenset[str] = frozenset()
    organization_domains: frozenset[str] = frozenset()
    #: Code prefix (upper-case) → record type, e.g. ``{"OP": "deal"}``; ``build`` makes it a ``CodeRules``, which
    #: also knows how each prefix may be written (``OP-123``, ``OP 123``, ``OP123``).
    codes: Mapping[str, str] = field(default_factory=dict)
    strip_plus_tags: bool = False
    free_mail_domains: frozenset[str] = FREE_MAIL_DOMAINS
    ignore_rules: tuple[IgnoreRule, ...] = ()
    #: Machine-sent mail: auto-replies, bounces and receipts, newsletters (``linker.classify.automated_reason``).
    automated: Policy = "ignore"
    #: Mail whose every participant is one of us: mailbox rules that BCC everything would flood the CRM with it.
    internal: Policy = "ignore"
    #: Seconds of CPU one message may take (``linker.budget``); ``None``: no limit.
    cpu_limit: float | None = DEFAULT_CPU_LIMIT

    @classmethod
    def build(
        cls,
        *,
        assistant_addresses: Iterable[str] = (),
        organization_domains: Iterable[str] = (),
        codes: Mapping[str, str] | None = None,
        code_separators: Mapping[str, Iterable[str]] | None = None,
        strip_plus_tags: bool = False,
        extra_free_mail: Iterable[str] = (),
        ignore_rules: Iterable[IgnoreRule] = (),
        automated: Policy = "ignore",
        internal: Policy = "ignore",
        cpu_limit: float | None = DEFAULT_CPU_LIMIT,
    ) -> LinkerSettings:
        """Settings with every address and domain normalised the way lookups expect."""
        return cls(
            assistant_addresses=frozenset(normalize_address(a) for a in assistant_addresses),
            organization_domains=frozenset(normalize_domain(d) for d in organization_domains),
            codes=CodeRules(codes or {}, code_separators),
            strip_plus_tags=strip_plus_tags,
            free_mail_domains=FREE_MAIL_DOMAINS | {normalize_domain(d) for d in extra_free_mail},
            ignore_rules=tuple(ignore_rules),
            automated=automated,
            internal=internal,
            cpu_limit=cpu_limit,
        )

    def normalize(self, address: str) -> str:
        """The lookup form of an address under these settings."""
        return normalize_address(address, strip_plus=self.strip_plus_tags)

    def is_assistant(self, address: str) -> bool:
        """One of our own addresses, ``+tag`` sub-addresses included."""
        if address in self.assistant_addresses:
            return True
        local, _, domain = address.rpartition("@")
        return "+" in local and f"{local.split('+', 1)[0]}@{domain}" in self.assistant_addresses

    def is_org_domain(self, address: str) -> bool:
        """Whether the address is at one of our domains (or a subdomain of one)."""
        domain = domain_of(address)
        return any(domain == d or domain.endswith("." + d) for d in self.organization_domains)

    def ignore_rule_for(self, sender: str | None, subject: str | None) -> IgnoreRule | None:
        """The first ignore rule matching this sender and subject."""
        return next((r for r in self.ignore_rules if r.matches(sender, subject)), None)
