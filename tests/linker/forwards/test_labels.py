"""The label and separator tables: every language the product promises, and no label with two meanings."""

from __future__ import annotations

from linker.forwards import labels, separators
from linker.forwards.tables import longest_first

PROMISED = {
    "en", "pl", "cs", "sk", "ro", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "hu", "hr", "ru", "uk",
    "tr", "ja", "et",
}  # fmt: skip


def test_every_promised_language_has_its_labels() -> None:
    for table in (labels.FROM, labels.TO, labels.CC, labels.DATE, labels.SUBJECT):
        assert table.keys() >= PROMISED, PROMISED - table.keys()


def test_no_label_means_two_fields() -> None:
    seen: dict[str, str] = {}
    for field, table in labels.FIELDS.items():
        for group in table.values():
            for label in group:
                assert seen.setdefault(label.casefold(), field) == field, label


def test_index_covers_every_label() -> None:
    assert set(labels.label_index()) == {label.casefold() for label in labels.all_labels()}
    ordered = labels.all_labels()
    assert ordered.index("De la") < ordered.index("De")


def test_separator_phrases_do_not_overlap() -> None:
    forward = {p.casefold() for p in longest_first(separators.FORWARD)}
    original = {p.casefold() for p in longest_first(separators.ORIGINAL)}
    assert not forward & original
