"""Header labels that mail clients write above an inline forward: the ``from`` … ``other`` keys of
``phrases.toml``, per language.

The parser matches the union of all languages, because a forward's labels follow the forwarder's client language,
not the message's. Separator lines and reply attributions are in ``separators.py``, subject prefixes in
``subject.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

from linker.forwards.tables import Table, index, longest_first, phrases

#: Field names the parser produces, each with its labels. A label two fields share goes to the one listed first.
FIELDS: Mapping[str, Table] = {field: phrases(field) for field in ("from", "to", "cc", "date", "subject", "other")}
FROM, TO, CC, DATE, SUBJECT, OTHER = FIELDS.values()


def label_index() -> dict[str, str]:
    """Every label, case-folded, mapped to its field (``from``, ``to``, ``cc``, ``date``, ``subject``, ``other``)."""
    return index(FIELDS.items())


def all_labels() -> list[str]:
    """Every label as written, longest first, so ``De la`` wins over ``De`` and ``Kopie (CC)`` over ``Kopie``."""
    return longest_first(*FIELDS.values())
