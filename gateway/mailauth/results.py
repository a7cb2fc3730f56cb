"""What the checks report: one :class:`Check` per result, all of a message's in :class:`AuthResults`, and the
detail text of a check made safe to log and show (it can quote the sender)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

#: The methods a :class:`Check` reports.
METHODS = ("dkim", "spf", "dmarc", "arc")
#: The RFC 8601 result words a :class:`Check` carries.
RESULTS = frozenset({"pass", "fail", "none", "neutral", "softfail", "temperror", "permerror", "policy"})
#: Details are cut to this length (they can quote the sender's text).
MAX_DETAIL = 200
#: The result of a check that was not evaluated because the others already decided the message (an aligned DKIM
#: pass makes SPF moot). Not an RFC 8601 word: only ever in our own records, never read from a relay.
SKIPPED = "skipped"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


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


def short(text: str) -> str:
    """A detail safe to log and show: no control characters, at most :data:`MAX_DETAIL` characters."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"
