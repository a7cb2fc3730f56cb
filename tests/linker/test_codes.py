"""Record codes in subjects."""

from __future__ import annotations

import pytest

from linker.codes import extract_codes

PREFIXES = {"OP": "deal", "TK": "ticket"}


@pytest.mark.parametrize(
    ("subjects", "expected"),
    [
        (["Fleet renewal OP-123"], [("OP-123", "deal")]),
        (["[OP-123] offer", None], [("OP-123", "deal")]),
        (["Re: (OP-7) and TK-88"], [("OP-7", "deal"), ("TK-88", "ticket")]),
        (["op-5 lower case prefix"], [("OP-5", "deal")]),
        (["OP-0042 keeps its digits"], [("OP-0042", "deal")]),
        (["OP\u201377 with an en dash"], [("OP-77", "deal")]),
        (["OP-1, OP-2; OP-1 again"], [("OP-1", "deal"), ("OP-2", "deal")]),
        (["XOP-1234 is another token"], []),
        (["OP-12a is not a code", "OP123 needs its hyphen", "OP-1-2 is a range"], []),
        (["nothing here", ""], []),
        (["Original OP-2", "Fwd: Original OP-2 plus OP-3"], [("OP-2", "deal"), ("OP-3", "deal")]),
    ],
)
def test_extract_codes(subjects: list[str | None], expected: list[tuple[str, str]]) -> None:
    assert extract_codes(subjects, PREFIXES) == expected


def test_no_prefixes_no_codes() -> None:
    assert extract_codes(["OP-1"], {}) == []


def test_original_subject_comes_first() -> None:
    assert [c for c, _ in extract_codes(["TK-9 original", "Fwd: OP-1 outer"], PREFIXES)] == ["TK-9", "OP-1"]
