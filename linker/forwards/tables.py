"""Per-language phrase tables (``phrases.toml``, read by ``labels.py``, ``separators.py`` and ``subject.py``) and the
two ways parsers read them.

A table maps a language code to the phrases its mail clients write for one key (``from``, ``wrote``,
``forward_prefix``…). Parsers match the union of every language, so they need the phrases in one list (an
alternation must try the longest first) or one index (a phrase found back to the table it came from).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TypeVar

Table = Mapping[str, Sequence[str]]
K = TypeVar("K")

PHRASES = Path(__file__).with_name("phrases.toml")
#: Every key a language may have (see ``phrases.toml``'s header).
KEYS = frozenset(
    {
        *("from", "to", "cc", "date", "subject", "other"),
        *("forward", "original", "plain_forward", "wrote", "on_behalf_of"),
        *("forward_prefix", "reply_prefix"),
    }
)


def read_phrases(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """A phrases file as language → key → phrases. A key no parser reads, or a value that is not a list of
    non-blank strings, is a mistake in the file: ``ValueError`` (at import, for ``phrases.toml``), rather than a
    table that matches nothing."""
    with path.open("rb") as file:
        raw = tomllib.load(file)
    languages: dict[str, dict[str, tuple[str, ...]]] = {}
    for language, keys in raw.items():
        if not isinstance(keys, dict) or not set(keys) <= KEYS:
            unknown = sorted(set(keys) - KEYS) if isinstance(keys, dict) else keys
            raise ValueError(f"{path.name}: [{language}] has unknown keys {unknown!r}")
        for key, phrases in keys.items():
            if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
                raise ValueError(f"{path.name}: [{language}] {key} must be a list of non-blank strings")
        languages[language] = {key: tuple(phrases) for key, phrases in keys.items()}
    return languages


@cache
def _languages() -> dict[str, dict[str, tuple[str, ...]]]:
    return read_phrases(PHRASES)


def phrases(key: str) -> Table:
    """The ``key`` phrases of every language that has some."""
    if key not in KEYS:
        raise KeyError(key)
    return {language: keys[key] for language, keys in _languages().items() if key in keys}


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
