"""The inline-forward parser against forwards written the way each mail client and language writes them.

Fixtures live in ``tests/fixtures/forwards/<client>_<lang>.txt``; each case (``cases_outlook.py``,
``cases_other.py``) names the outer subject the forwarder's client used and what the parser must read back.
"""

from __future__ import annotations

import pytest

from linker.forwards.inline import find_inline_forward
from linker.model import Mailbox
from tests.linker.forwards.cases_other import OTHERS
from tests.linker.forwards.cases_outlook import OUTLOOK
from tests.linker.forwards.inline_support import FIXTURES, NEGATIVES, Case, load, mailboxes

#: Every forward case, by fixture name.
CASES: dict[str, Case] = {**OTHERS, **OUTLOOK}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward(name: str) -> None:
    case = CASES[name]
    # Given a forward as the client wrote it, when it is parsed with the forward's own subject
    found = find_inline_forward(load(name), outer_subject=case.subject)
    # then every field of the original comes back
    assert found is not None
    assert found.from_ == Mailbox(*case.sender)
    assert found.subject == case.original_subject
    assert found.body.startswith(case.body), found.body
    assert found.body == found.body.strip()
    assert mailboxes(found.to) == case.to
    assert mailboxes(found.cc) == case.cc
    assert found.note == case.note
    assert found.date_text
    assert found.date == case.date
    if case.date_text:
        assert found.date_text == case.date_text


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_reply_is_not_a_forward(name: str) -> None:
    assert find_inline_forward(load(name), outer_subject=NEGATIVES[name]) is None


def test_fixtures_are_all_used() -> None:
    # (whole messages, in chains/, are test_chains.py's)
    files = {p.name for p in FIXTURES.iterdir() if p.is_file()}
    assert files == set(CASES) | set(NEGATIVES) | {"gmail_nested_en.txt"}


def test_a_pasted_header_block_has_its_encoded_words_decoded() -> None:
    # Given a forward whose header block holds the original's raw headers (Mutt without forward_decode, or a block
    # copied from "show original"), names and subject still RFC 2047 encoded
    text = (
        "Posílám dál.\n\n"
        "---------- Forwarded message ---------\n"
        "From: =?iso-8859-2?Q?Tom=E1=B9_Dvo=F8=E1k?= <tomas.dvorak@kovo-plzen.cz>\n"
        "Date: Tue, 5 Mar 2024 10:42:17 +0100\n"
        "Subject: =?iso-8859-2?Q?Popt=E1vka_OP-2024-77_lisovac=ED_n=E1stroje?=\n"
        "To: obchod@example.cz\n"
        "Cc: =?utf-8?B?SmnFmcOtIMSMZXJuw70=?= <jiri.cerny@kovo-plzen.cz>, =?utf-8?q?Mal=C3=A1=2C_Hana?= "
        "<hana.mala@kovo-plzen.cz>\n\n"
        "Dobrý den,\n\nprosíme o cenovou nabídku.\n"
    )
    found = find_inline_forward(text, outer_subject="Fwd: Poptávka OP-2024-77 lisovací nástroje")
    # Then they read as the client showed them; a comma inside an encoded name does not split the list
    assert found is not None
    assert found.from_ == Mailbox("Tomáš Dvořák", "tomas.dvorak@kovo-plzen.cz")
    assert found.subject == "Poptávka OP-2024-77 lisovací nástroje"
    assert mailboxes(found.cc) == [
        ("Jiří Černý", "jiri.cerny@kovo-plzen.cz"),
        ("Malá, Hana", "hana.mala@kovo-plzen.cz"),
    ]


def test_mutt_names_the_sender_in_its_separator_and_closes_the_forward_with_a_line_of_its_own() -> None:
    # Given Mutt's forward of a sender whose name and address make the separator's title longer than 80 characters
    sender = "Ing. Tomáš Dvořák, vedoucí obchodního oddělení <tomas.dvorak@kovo-plzen-strojirenstvi.cz>"
    text = (
        f"Posílám dál.\n\n----- Forwarded message from {sender} -----\n\n"
        f"Date: Tue, 5 Mar 2024 10:42:17 +0100\nFrom: {sender}\nTo: obchod@example.cz\n"
        "Subject: Poptávka\nX-Mailer: Mutt/2.2.9\n\nDobrý den,\n\nprosíme o nabídku.\n\n"
        "----- End forwarded message -----\n\n"
    )
    found = find_inline_forward(text, outer_subject="Fwd: Poptávka")
    # Then the separator is the forward's (not the forwarder's note), and neither X-Mailer nor the closing line is
    # the original's body
    assert found is not None
    assert found.note == "Posílám dál."
    assert found.body == "Dobrý den,\n\nprosíme o nabídku."
    assert found.from_ is not None and found.from_.address == "tomas.dvorak@kovo-plzen-strojirenstvi.cz"


def test_a_forward_of_a_forward_without_a_note_keeps_the_inner_separator_for_the_next_level() -> None:
    # Given Gmail's forward of a forward, the inner separator right below the outer block (no note between)
    inner = (
        "---------- Forwarded message ---------\nFrom: Oliver Grant <oliver.grant@northwind-traders.co.uk>\n"
        "Date: Mon, Mar 4, 2024 at 9:15 AM\nSubject: Request for quotation\nTo: <sales@example.com>\n\n\nHello,\n"
    )
    text = (
        "Marta, see below.\n\n---------- Forwarded message ---------\nFrom: Jan Kowalski <jan@example.com>\n"
        "Date: Mon, Mar 4, 2024 at 9:20 AM\nSubject: Fwd: Request for quotation\nTo: <marta@example.com>\n\n\n" + inner
    )
    found = find_inline_forward(text, outer_subject="Fwd: Fwd: Request for quotation")
    # Then the outer level's body is the inner forward, separator included (Zoho's closing line is another thing)
    assert found is not None and found.from_ == Mailbox("Jan Kowalski", "jan@example.com")
    assert found.body == inner.strip()
