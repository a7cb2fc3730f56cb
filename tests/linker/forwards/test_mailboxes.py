"""From/To/Cc values as mail clients display them in forwarded headers."""

from __future__ import annotations

import pytest

from linker.forwards.mailboxes import parse_mailbox, parse_mailboxes
from linker.model import Mailbox


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("John Doe <john@example.com>", Mailbox("John Doe", "john@example.com")),
        ('"Doe, John" <john@example.com>', Mailbox("Doe, John", "john@example.com")),
        ("john@example.com <john@example.com>", Mailbox(None, "john@example.com")),
        ('"john@example.com" <john@example.com>', Mailbox(None, "john@example.com")),
        ("<john@example.com>", Mailbox(None, "john@example.com")),
        ("john@example.com", Mailbox(None, "john@example.com")),
        ("John Doe [mailto:john@example.com]", Mailbox("John Doe", "john@example.com")),
        ("john@example.com<mailto:john@example.com>", Mailbox(None, "john@example.com")),
        ("John Doe <john@example.com<mailto:john@example.com>>", Mailbox("John Doe", "john@example.com")),
        ("John Doe <mailto:john@example.com>", Mailbox("John Doe", "john@example.com")),
        ("Marek Horváth (<marek@example.sk>)", Mailbox("Marek Horváth", "marek@example.sk")),
        ("john@example.com (John Doe)", Mailbox("John Doe", "john@example.com")),
        ("„Nowak, Piotr” <p.nowak@example.pl>", Mailbox("Nowak, Piotr", "p.nowak@example.pl")),
        ("« Claire Martin » <claire@example.fr>", Mailbox("Claire Martin", "claire@example.fr")),
        ("*Jan Novák* <jan@example.cz>", Mailbox("Jan Novák", "jan@example.cz")),
        ("Valéry", Mailbox("Valéry", None)),
        ("Jane Roe <jane@example.com> on behalf of Sales <sales@example.com>", Mailbox("Jane Roe", "jane@example.com")),
        ("Jan Kowalski <jan@example.pl> w imieniu Biuro <biuro@example.pl>", Mailbox("Jan Kowalski", "jan@example.pl")),
        ("", None),
        (" ; ", None),
    ],
)
def test_parse_mailbox(value: str, expected: Mailbox | None) -> None:
    assert parse_mailbox(value) == expected


@pytest.mark.parametrize(
    ("value", "addresses"),
    [
        ("a@example.com, b@example.com", ["a@example.com", "b@example.com"]),
        ("A <a@example.com>; B <b@example.com>;", ["a@example.com", "b@example.com"]),
        ('"Doe, John" <j@example.com>, "Roe, Jane" <r@example.com>', ["j@example.com", "r@example.com"]),
        ("Doe, John <j@example.com>, Roe, Jane <r@example.com>", ["j@example.com", "r@example.com"]),
        ("Doe, John <j@example.com>; Roe, Jane <r@example.com>", ["j@example.com", "r@example.com"]),
        ("O'Brien, Pat <pat@example.ie>, Ann <ann@example.com>", ["pat@example.ie", "ann@example.com"]),
        ("Robert King; Sales Team", [None, None]),
        ("", []),
    ],
)
def test_parse_mailboxes(value: str, addresses: list[str | None]) -> None:
    assert [m.address for m in parse_mailboxes(value)] == addresses


def test_list_keeps_names() -> None:
    assert parse_mailboxes("Doe, John <j@example.com>; Robert King") == (
        Mailbox("Doe, John", "j@example.com"),
        Mailbox("Robert King", None),
    )


def test_brackets_written_as_html_entities_are_brackets() -> None:
    # A text part made of HTML by a tool that left the entities in
    assert parse_mailboxes("&quot;Doe, John&quot; &lt;john@acme.test&gt;; Ann &LT;ann@acme.test&GT;") == (
        Mailbox("Doe, John", "john@acme.test"),
        Mailbox("Ann", "ann@acme.test"),
    )
    # Without an escaped bracket the text is as written: an ampersand in a name stays
    assert parse_mailbox("Tom &amp; Jerry <tj@acme.test>") == Mailbox("Tom &amp; Jerry", "tj@acme.test")
