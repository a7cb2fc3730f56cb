"""Record codes in subjects: configured prefixes as whole tokens (``OP-123``, ``[OP-123]``), never inside words.

A prefix is written with a hyphen by default. ``[codes.OP] separators`` may also allow a space (``OP 123``) or
nothing (``OP123``); those looser forms need the prefix in upper case and 2 to 12 digits that are not followed by
more numbers (``OP 12 34``, ``OP 10:30``, ``OP 1.5``), so that prose, times and phone numbers stay prose. Every form
is stored and looked up as ``PREFIX-DIGITS``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping

#: The separators a prefix may be written with: a hyphen (also the dashes word processors and phones type), one
#: space (or a no-break space), or none.
SEPARATORS = ("-", " ", "")
#: What a prefix allows when the config says nothing: ``OP-123`` only, as before separators were configurable.
DEFAULT_SEPARATORS = ("-",)
#: The hyphen, and what stands for it: U+2010 (also the non-breaking U+2011, after NFKC), the figure, en and em
#: dashes, and the minus sign. Full-width and small hyphen-minus become ``-`` under NFKC.
_HYPHENS = "-\u2010\u2012\u2013\u2014\u2212"
_SPACES = " \u00a0"
#: Longer subjects are matched as written: NFKC may make a character 18 (U+FDFA), and a header can be megabytes.
MAX_NORMALIZED = 8192
#: Digits of a code written without a hyphen: fewer is a model number (``A4``), more a phone number or an id.
LOOSE_DIGITS = (2, 12)
#: After a loosely written code: more digits, a time, a decimal or a fraction make it some other number.
_NUMBER_GOES_ON = re.compile(r"[ \u00a0]?[.,:/]?\d")


def code_pattern(prefixes: Iterable[str]) -> re.Pattern[str] | None:
    """A regex finding ``PREFIX-DIGITS`` tokens for the given prefixes, or ``None`` without prefixes."""
    return _pattern(prefixes, loose=False)


def _pattern(prefixes: Iterable[str], *, loose: bool) -> re.Pattern[str] | None:
    alternatives = sorted({p.upper() for p in prefixes}, key=len, reverse=True)
    if not alternatives:
        return None
    joined = "|".join(re.escape(p) for p in alternatives)
    separator = f"([{_HYPHENS}]|[{_SPACES}]|)" if loose else f"([{_HYPHENS}])"
    # Letters, digits and '-' or '_' glued on either side make it part of another token (XOP-1234, OP-12a).
    # ASCII digits only: any other script's digits would be stored as they are and match no record.
    return re.compile(rf"(?<![\w-])({joined}){separator}([0-9]+)(?![\w-])", re.IGNORECASE)


class CodeRules(Mapping[str, str]):
    """Code prefix (upper-case) → record type, with the separators each prefix may be written with."""

    __slots__ = ("_loose", "_pattern", "_separators", "_types")

    def __init__(self, types: Mapping[str, str], separators: Mapping[str, Iterable[str]] | None = None) -> None:
        self._types = {prefix.upper(): record_type for prefix, record_type in types.items()}
        given = {prefix.upper(): tuple(dict.fromkeys(seps)) for prefix, seps in (separators or {}).items()}
        unknown = [s for seps in given.values() for s in seps if s not in SEPARATORS]
        if unknown:
            raise ValueError(f"unknown code separator {unknown[0]!r}; allowed: {SEPARATORS}")
        self._separators = {prefix: given.get(prefix) or DEFAULT_SEPARATORS for prefix in self._types}
        self._loose = any(seps != DEFAULT_SEPARATORS for seps in self._separators.values())
        self._pattern = _pattern(self._types, loose=self._loose)

    def __getitem__(self, prefix: str) -> str:
        return self._types[prefix]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CodeRules):
            return (self._types, self._separators) == (other._types, other._separators)
        return isinstance(other, Mapping) and self._types == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CodeRules({self._types!r}, {self._separators!r})"

    def separators(self, prefix: str) -> tuple[str, ...]:
        """How ``prefix`` may be written: ``"-"``, ``" "`` and/or ``""``."""
        return self._separators[prefix.upper()]

    def find(self, subject: str) -> Iterator[str]:
        """Every code in ``subject``, in order, in its canonical ``PREFIX-DIGITS`` form (repeats included). Full-width
        forms (``OP-123`` typed with an East Asian input method) and the non-breaking hyphen count, by NFKC."""
        if self._pattern is None:
            return
        if not subject.isascii() and len(subject) <= MAX_NORMALIZED:
            subject = unicodedata.normalize("NFKC", subject)
        for match in self._pattern.finditer(subject):
            written, separator, digits = match.groups()
            prefix = written.upper()
            kind = "-" if separator and separator in _HYPHENS else " " if separator else ""
            if kind not in self._separators[prefix]:
                continue
            if kind != "-" and not self._loose_ok(subject, match, written, digits):
                continue
            yield f"{prefix}-{digits}"

    @staticmethod
    def _loose_ok(subject: str, match: re.Match[str], written: str, digits: str) -> bool:
        low, high = LOOSE_DIGITS
        return (
            written.isupper()
            and low <= len(digits) <= high
            and _NUMBER_GOES_ON.match(subject, match.end()) is None
            and not _preceded_by_number(subject, match.start())
        )


def _preceded_by_number(subject: str, start: int) -> bool:
    """Whether a number runs into the code from the left (``+48 OP 123``, ``12/OP 5``): part of something else."""
    before = subject[max(0, start - 2) : start]
    return bool(re.search(r"\d[ \u00a0.,:/+]?$", before))


def extract_codes(subjects: Iterable[str | None], prefixes: Mapping[str, str]) -> list[tuple[str, str]]:
    """``[(CODE, type)]`` from the subjects in order (original first, then outer), each code once."""
    rules = prefixes if isinstance(prefixes, CodeRules) else CodeRules(prefixes)
    found: dict[str, str] = {}
    for subject in subjects:
        for code in rules.find(subject or ""):
            found.setdefault(code, rules[code.partition("-")[0]])
    return list(found.items())
