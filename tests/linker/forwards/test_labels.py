"""The label and separator tables: every language the product promises, and no label with two meanings."""

from __future__ import annotations

from pathlib import Path

import pytest

from linker.forwards import labels, separators
from linker.forwards.tables import PHRASES, longest_first, phrases, read_phrases

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


def test_a_mistake_in_the_phrases_file_is_refused_not_matched_as_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "phrases.toml"
    typo.write_text('[pl]\nfrom = ["Od"]\nfrmo = ["Nadawca"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"phrases.toml: \[pl\] has unknown keys \['frmo'\]"):
        read_phrases(typo)
    blank = tmp_path / "blank.toml"
    blank.write_text('[pl]\nfrom = ["Od", " "]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[pl\] from must be a list of non-blank strings"):
        read_phrases(blank)
    scalar = tmp_path / "scalar.toml"
    scalar.write_text('[pl]\nfrom = "Od"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="must be a list"):
        read_phrases(scalar)
    with pytest.raises(KeyError):
        phrases("frmo")


def test_the_shipped_phrases_file_reads_and_every_table_comes_from_it() -> None:
    languages = read_phrases(PHRASES)
    assert languages["pl"]["from"] == ("Od", "Nadawca")
    assert separators.WROTE["de"] == languages["de"]["wrote"]
