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
