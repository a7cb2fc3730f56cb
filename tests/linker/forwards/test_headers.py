"""Header blocks: label lines in any language, wrapped recipients, and Yahoo's single line."""

from __future__ import annotations

import pytest

from linker.forwards.headers import label_of, parse_block, parse_one_line


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("From: Jan <jan@example.cz>", "from", "Jan <jan@example.cz>"),
        ("De la: Ion <ion@example.ro>", "from", "Ion <ion@example.ro>"),
        ("De : Claire <claire@example.fr>", "from", "Claire <claire@example.fr>"),
        ("*Od:* Tomasz", "from", "Tomasz"),
        ("**Von:** Klaus", "from", "Klaus"),
        ("差出人\uff1a佐藤", "from", "佐藤"),  # full-width colon
        ("Odesláno: pondělí 4. března 2024 9:15", "date", "pondělí 4. března 2024 9:15"),
        ("Kopie (CC): \tx@example.de", "cc", "x@example.de"),
        ("Másolatot kap: y@example.hu", "cc", "y@example.hu"),
        ("Temat: Oferta", "subject", "Oferta"),
        ("Reply-To: z@example.com", "other", "z@example.com"),
        ("  CC:", "cc", ""),
    ],
)
def test_label_line(line: str, field: str, value: str) -> None:
    assert label_of(line) == (field, value)


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("*Betreff:* *Angebot*", "Angebot"),  # Gmail's text part of Apple Mail's bold subject
        ("*Subject: **Offer*", "Offer"),  # the label's bold took the space: its closing mark and the value's opening
        ("**Subject:** **Offer**", "Offer"),
        ("Subject: *Offer*", "Offer"),
        ("   *Datum:* *4. März 2024*", "4. März 2024"),
        ("*From*: *Jan <jan@example.pl>*", "Jan <jan@example.pl>"),
        # Marks that are the subject's own text stay: an unopened footnote star, stars inside, nothing but stars
        ("*Subject:* Offer 5*", "Offer 5*"),
        ("Subject: Offer*", "Offer*"),
        ("*Subject:* *URGENT* offer *now*", "*URGENT* offer *now*"),
        ("*Subject:* ***x***", "***x***"),
        ("*Subject:* *", "*"),
    ],
)
def test_a_bold_value_beside_a_label_loses_its_marks_and_only_those(line: str, value: str) -> None:
    found = label_of(line)
    assert found is not None
    assert found[1] == value


def test_a_long_bold_value_costs_one_pass() -> None:
    # "*" + n letters + "*b*" would cost a backtracking regex n² steps; string scans stay linear
    line = "*Subject:* *" + "a" * 2_000_000 + "*b*"
    assert label_of(line) == ("subject", line[len("*Subject:* ") :])


@pytest.mark.parametrize("line", ["Note: call me", "Fromage: brie", "From the desk of Jan", "Regards,"])
def test_not_a_label_line(line: str) -> None:
    assert label_of(line) is None


def test_block_stops_at_the_body() -> None:
    lines = ["Od: Jan <jan@example.cz>", "Datum: 4. 3. 2024", "Předmět: Objednávka", "Dobrý den,", "Komu: x"]
    block = parse_block(lines, 0)
    assert block.fields == {"from": "Jan <jan@example.cz>", "date": "4. 3. 2024", "subject": "Objednávka"}
    assert block.end == 3


def test_block_stops_at_a_repeated_field() -> None:
    block = parse_block(["From: a@example.com", "To: b@example.com", "From: c@example.com"], 0)
    assert block.end == 2


def test_block_spans_html_paragraph_gaps() -> None:
    block = parse_block(["From: a@example.com", "", "Sent: today", "", "Subject: x", "", "Hello"], 0)
    assert set(block.fields) == {"from", "date", "subject"}
    assert block.end == 5


def test_wrapped_recipients() -> None:
    lines = ["To: A <a@example.com>;", "  B <b@example.com>", "Cc: C <c@example.com>, D <", "d@example.com>", "x"]
    block = parse_block(lines, 0)
    assert block.fields["to"] == "A <a@example.com>; B <b@example.com>"
    assert block.fields["cc"] == "C <c@example.com>, D < d@example.com>"
    assert block.end == 4


def test_yahoo_single_line() -> None:
    line = (
        'Von: Jan <jan@example.de>An: "b@example.de" <b@example.de>CC: C <c@example.de>'
        "Gesendet: Montag, 4. März 2024, 09:15:00 MEZBetreff: Angebot: Teil A: neu"
    )
    block = parse_one_line(line)
    assert block is not None
    assert block.fields == {
        "from": "Jan <jan@example.de>",
        "to": '"b@example.de" <b@example.de>',
        "cc": "C <c@example.de>",
        "date": "Montag, 4. März 2024, 09:15:00 MEZ",
        "subject": "Angebot: Teil A: neu",
    }


def test_yahoo_subject_without_colon() -> None:
    block = parse_one_line("De: Ana <ana@example.pt>Para: b@example.pt Enviado: 4 de março de 2024 CETAssunto Olá")
    assert block is not None
    assert block.fields["date"] == "4 de março de 2024 CET"
    assert block.fields["subject"] == "Olá"


def test_yahoo_cc_without_colon_after_an_address() -> None:
    block = parse_one_line("Od: A <a@example.pl>Do: b@example.pl <b@example.pl>Dw C <c@example.pl>; d@example.pl")
    assert block is not None
    assert block.fields["to"] == "b@example.pl <b@example.pl>"
    assert block.fields["cc"] == "C <c@example.pl>; d@example.pl"
    # Not after an address, or not followed by mailboxes only: a name's word, kept where it stands
    for text in ("Od: A <a@example.pl>Do: Jan Dw <j@example.pl>", "Od: A <a@example.pl>Do: <b@example.pl>Dw ok"):
        one = parse_one_line(text)
        assert one is not None and "cc" not in one.fields, text


def test_a_label_no_table_knows_is_passed_over_between_known_ones() -> None:
    lines = ["From: A <a@example.com>", "Sendezeit: 4.3.2024", "To: b@example.com", "", "Body"]
    block = parse_block(lines, 0)
    assert (block.fields, block.end) == ({"from": "A <a@example.com>", "to": "b@example.com"}, 3)
    # Not when a body line follows it, nor a field the block already has
    for after in ("Thanks for the samples.", "From: C <c@example.com>"):
        block = parse_block(["From: A <a@example.com>", "Subject: Hi", "Note: see below", after], 0)
        assert block.end == 2, after


def test_one_line_needs_a_leading_label() -> None:
    assert parse_one_line("Hello From: x To: y") is None
    assert parse_one_line("Canada: nice") is None
