"""Record codes in subjects: configured prefixes as whole tokens (``OP-123``, ``[OP-123]``), never inside words."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping


def code_pattern(prefixes: Iterable[str]) -> re.Pattern[str] | None:
    """A regex finding ``PREFIX-DIGITS`` tokens for the given prefixes, or ``None`` without prefixes."""
    alternatives = sorted({p.upper() for p in prefixes}, key=len, reverse=True)
    if not alternatives:
        return None
    joined = "|".join(re.escape(p) for p in alternatives)
    # Letters, digits and '-' or '_' glued on either side make it part of another token (XOP-1234, OP-12a).
    # Word processors turn the hyphen into U+2010 or an en dash (U+2013) in pasted subjects.
    return re.compile(rf"(?<![\w-])({joined})[-\u2010\u2013](\d+)(?![\w-])", re.IGNORECASE)


def extract_codes(subjects: Iterable[str | None], prefixes: Mapping[str, str]) -> list[tuple[str, str]]:
    """``[(CODE, type)]`` from the subjects in order (original first, then outer), each code once."""
    pattern = code_pattern(prefixes)
    if pattern is None:
        return []
    found: dict[str, str] = {}
    for subject in subjects:
        for match in pattern.finditer(subject or ""):
            prefix = match.group(1).upper()
            found.setdefault(f"{prefix}-{match.group(2)}", prefixes[prefix])
    return list(found.items())
