"""Record codes in subjects."""

from __future__ import annotations

import pytest

from linker.codes import CodeRules, extract_codes
from linker.settings import LinkerSettings

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
        # Word's non-breaking hyphen, the minus sign, an em dash; full-width forms: each the same code
        (["OP\u201178", "OP\u221279", "OP\u201480"], [("OP-78", "deal"), ("OP-79", "deal"), ("OP-80", "deal")]),
        (["\uff2f\uff30\uff0d\uff11\uff12\uff13 and OP-\uff14\uff15"], [("OP-123", "deal"), ("OP-45", "deal")]),
        (["OP-\u0661\u0662\u0663 has no ASCII digits"], []),
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


# --- codes written with a space or with nothing between prefix and digits ([codes.PREFIX] separators) ----------

LOOSE = CodeRules({"OP": "deal", "TK": "ticket"}, {"OP": ["-", " ", ""]})


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Offer OP 123", ["OP-123"]),
        ("Offer OP123", ["OP-123"]),
        ("Offer OP-123", ["OP-123"]),
        ("[OP123] and (OP 77)", ["OP-123", "OP-77"]),
        ("Offer OP\u00a0123 with a no-break space", ["OP-123"]),
        ("OP 123, OP123 and OP-123 are one code", ["OP-123"]),
        # Only OP allows the loose forms; TK keeps its hyphen
        ("TK 55 and TK55 but TK-55", ["TK-55"]),
        # Inside a word, or glued to letters: another token
        ("TOP 10 reasons", []),
        ("STOP123 now", []),
        ("OP123abc is a part number", []),
        ("laptop 15 inch", []),
        # The loose forms want the prefix in upper case, and 2 to 12 digits
        ("op 123 in lower case", []),
        ("Op123", []),
        ("OP 1 is too short", []),
        ("OP1234567890123 is too long", []),
        ("op-5 keeps working with a hyphen", ["OP-5"]),
        ("OP-1 too", ["OP-1"]),
        # Dates, times, decimals, phone numbers: the number goes on
        ("OP 2024-05-01", []),
        ("OP 12.05.2024", []),
        ("OP 10:30 meeting", []),
        ("OP 600 123 456 call me", []),
        ("+48 OP 123", []),
        ("OP 1/2 done", []),
        ("OP 123, 2 pcs", ["OP-123"]),
    ],
)
def test_loose_separators(subject: str, expected: list[str]) -> None:
    assert [code for code, _ in extract_codes([subject], LOOSE)] == expected


def test_without_separators_configured_only_the_hyphen_counts() -> None:
    rules = CodeRules({"OP": "deal"})
    assert rules.separators("op") == ("-",)
    assert extract_codes(["OP 123", "OP123", "OP-123"], rules) == [("OP-123", "deal")]
    assert extract_codes(["OP 123 and OP123"], rules) == []


def test_settings_carry_the_separators_to_the_pipeline() -> None:
    settings = LinkerSettings.build(codes={"op": "deal"}, code_separators={"op": [" "]})
    assert settings.codes == {"OP": "deal"}
    assert extract_codes(["Offer OP 123"], settings.codes) == [("OP-123", "deal")]
    # " " only: the hyphen is not allowed any more
    assert extract_codes(["Offer OP-123"], settings.codes) == []


def test_unknown_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown code separator '/'"):
        CodeRules({"OP": "deal"}, {"OP": ["/"]})


def test_only_a_subject_of_bounded_length_is_normalized() -> None:
    # NFKC can make one character eighteen: a megabyte subject is matched as written, its codes still found
    long = "\ufdfa" * 1_000_000 + " OP-5 OP\u201156"
    assert extract_codes([long], PREFIXES) == [("OP-5", "deal")]
    assert extract_codes([long[-20:]], PREFIXES) == [("OP-5", "deal"), ("OP-56", "deal")]
