"""IDN domains shown in Unicode: the store keeps A-labels for matching, people read Unicode (pages and CSV)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from store import LinkChip, MessageRow
from web.addresses import shown_address
from web.export import csv_row


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zofia@xn--abka-99a.test", "zofia@żabka.test"),
        ("xn--mller-kva.example", "müller.example"),
        ("Jürgen@XN--MLLER-KVA.example", "Jürgen@müller.example"),
        ("anna@acme.test", "anna@acme.test"),
        ("xn--a.test", "xn--a.test"),  # not punycode: as it is
        ("Zofia xn--abka-99a.test", "Zofia xn--abka-99a.test"),  # a name, not an address
        (None, None),
    ],
)
def test_shown_address(value: str | None, expected: str | None) -> None:
    assert shown_address(value) == expected


def test_csv_shows_idn_senders_and_lead_labels_in_unicode() -> None:
    row = MessageRow(
        id=3,
        subject="Dodávka židlí",
        date=datetime(2026, 3, 9, 9, 5, tzinfo=UTC),
        direction="incoming",
        kind="redirect",
        submitter="Anna Nowak",
        from_name="Jürgen Müller",
        from_address="juergen.mueller@xn--mller-kva.example",
        links=(LinkChip("lead", 4, "stefan@xn--mller-kva.example", "new-lead"),),
    )

    cells = csv_row(row)

    assert cells[6] == "juergen.mueller@müller.example"
    assert cells[8] == "lead:stefan@müller.example"
