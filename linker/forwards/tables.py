"""Per-language phrase tables (``labels.py``, ``separators.py``, ``subject.py``) and the two ways parsers read them.

A table maps a language code to the phrases its mail clients write. Parsers match the union of every language, so
they need the phrases in one list (an alternation must try the longest first) or one index (a phrase found back to
the table it came from).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

Table = Mapping[str, Sequence[str]]
K = TypeVar("K")


def longest_first(*tables: Table) -> list[str]:
    """Every phrase of ``tables`` once, longest first (then in code-point order), so an alternation built from them
    tries ``De la`` before ``De`` and ``Kopie (CC)`` before ``Kopie``."""
    return sorted({p for table in tables for group in table.values() for p in group}, key=lambda p: (-len(p), p))


def index(tables: Iterable[tuple[K, Table]]) -> dict[str, K]:
    """Every phrase, case-folded, mapped to the key of the first table that has it (earlier tables win a phrase
    two tables share)."""
    found: dict[str, K] = {}
    for key, table in tables:
        for group in table.values():
            for phrase in group:
                found.setdefault(phrase.casefold(), key)
    return found
