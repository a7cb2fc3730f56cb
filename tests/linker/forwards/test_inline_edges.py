"""The inline-forward parser at its edges: nested forwards, headers without a reply prefix, wrapped recipients,
invisible characters, and text that is not a forward."""

from __future__ import annotations

import pytest

from linker.forwards.inline import find_inline_forward
from linker.model import InlineForward, Mailbox
from tests.linker.forwards.inline_support import load, mailboxes


def test_nested_forward_returns_the_outermost_block() -> None:
    outer = find_inline_forward(load("gmail_nested_en.txt"), outer_subject="Fwd: Fwd: Pricing for 2025")
    assert outer is not None
    assert outer.from_ == Mailbox("Priya Natarajan", "priya@example.com")
    assert outer.subject == "Pricing for 2025"
    assert outer.note == "FYI, see the thread below."
    # The caller unwraps inward by parsing the body again.
    inner = find_inline_forward(outer.body, outer_subject=outer.subject)
    assert inner is not None
    assert inner.from_ == Mailbox("Henrik Larsen", "henrik.larsen@fjord-shipping.no")
    assert inner.note == "Lucas, this came to me by mistake."
    assert inner.body == "Hi Priya, please send your 2025 price list."


def test_outlook_header_is_a_forward_without_a_reply_prefix() -> None:
    # The same Outlook block is a forward under FW:, or no prefix at all, and a reply under RE:/AW:/SV:…
    text = load("reply_outlook_de.txt")
    assert find_inline_forward(text, outer_subject="WG: Angebot Ersatzteile") is not None
    assert find_inline_forward(text, outer_subject="Angebot Ersatzteile") is not None
    assert find_inline_forward(text, outer_subject=None) is not None
    for subject in ("AW: x", "RE: x", "SV: x", "Odp: x", "Re: Fwd: x"):
        assert find_inline_forward(text, outer_subject=subject) is None, subject


def test_attribution_is_a_forward_only_under_a_forward_prefix() -> None:
    text = load("outlook_mac_en.txt")
    assert find_inline_forward(text, outer_subject="FW: Contract renewal") is not None
    for subject in ("Re: Contract renewal", "Contract renewal", None):
        assert find_inline_forward(text, outer_subject=subject) is None, subject


def test_forward_separator_wins_over_a_reply_subject() -> None:
    # "---------- Forwarded message" says forward whatever the subject claims.
    found = find_inline_forward(load("gmail_en.txt"), outer_subject="Re: quote")
    assert found is not None
    assert found.from_ is not None and found.from_.address == "oliver.grant@northwind-traders.co.uk"


def test_forward_quoted_inside_a_reply_is_not_a_forward() -> None:
    text = "Agreed.\n\nOn Mon, Mar 4, 2024 at 9:15 AM Ann Lee <ann@example.com> wrote:\n> " + "\n> ".join(
        load("gmail_en.txt").splitlines()
    )
    assert find_inline_forward(text, outer_subject="Re: Fwd: Request for quotation") is None


def test_wrapped_recipients_and_addresses_split_across_lines() -> None:
    text = (
        "---------- Forwarded message ---------\n"
        "From: Oliver Grant <oliver.grant@northwind-traders.co.uk>\n"
        "Date: Mon, Mar 4, 2024 at 9:15 AM\n"
        "Subject: Rates\n"
        "To: <sales@example.com>, Marta Zielińska <\n"
        "marta@example.com>\n"
        "Cc: Emma Hughes <emma.hughes@northwind-traders.co.uk>,\n"
        "  Noah Williams <noah@harbor-supply.com>\n"
        "\n"
        "Body.\n"
    )
    found = find_inline_forward(text, outer_subject="Fwd: Rates")
    assert found is not None
    assert mailboxes(found.to) == [(None, "sales@example.com"), ("Marta Zielińska", "marta@example.com")]
    assert [m.address for m in found.cc] == ["emma.hughes@northwind-traders.co.uk", "noah@harbor-supply.com"]
    assert found.body == "Body."


def test_block_with_only_a_sender_is_not_enough() -> None:
    text = "Thanks!\n\nFrom: the sales team in Brno\nRegards\n"
    assert find_inline_forward(text, outer_subject="Fwd: x") is None


def test_empty_text() -> None:
    assert find_inline_forward("", outer_subject="Fwd: x") is None


def test_result_type() -> None:
    assert isinstance(find_inline_forward(load("gmail_pl.txt")), InlineForward)


def test_invisible_characters_and_no_break_spaces_do_not_hide_a_forward() -> None:
    # A BOM and a zero-width space before the separator, no-break spaces inside it and in the header lines (as
    # Outlook on the web pastes them), and CRLF line ends
    text = (
        "\ufeff\u200bSee below.\r\n\r\n"
        "\u200b----------\xa0Forwarded message\xa0---------\r\n"
        "From:\xa0Oliver Grant <oliver.grant@northwind-traders.co.uk>\r\n"
        "Date:\xa0Mon, Mar 4, 2024 at 9:15 AM\r\n"
        "Subject:\xa0Rates\u200e\r\n"
        "To:\xa0<sales@example.com>\r\n"
        "\r\n"
        "Body.\u200f\r\n"
    )
    found = find_inline_forward(text, outer_subject="Fwd: Rates")
    assert found is not None
    assert found.from_ == Mailbox("Oliver Grant", "oliver.grant@northwind-traders.co.uk")
    assert (found.subject, found.body, found.note) == ("Rates", "Body.", "See below.")


def test_an_attribution_needs_its_closing_colon() -> None:
    # The same Outlook for Mac attribution with and without the colon that ends it
    text = load("outlook_mac_en.txt")
    assert find_inline_forward(text, outer_subject="FW: Contract renewal") is not None
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.rstrip().endswith("wrote:"))
    lines[at] = lines[at].rstrip()[:-1]
    assert find_inline_forward("\n".join(lines), outer_subject="FW: Contract renewal") is None


def test_a_lazy_line_joins_the_quote_only_between_quoted_lines() -> None:
    head = "Forwarded message:\n\n> From: Noah <noah@example.com>\n> Subject: Samples\n> Date: 7 Mar 2024\n>\n"
    # A wrapped line that lost its "> " goes on the quoted paragraph
    found = find_inline_forward(head + "> Could you send\nus samples?\n> Noah\n")
    assert found is not None and found.body == "Could you send\nus samples?\nNoah"
    # Text after the last quoted line, or after a blank line, is not the quote's
    for tail in ("> Noah\nJan Kowalski, Sales\n", "> Could you?\n\nMy answer.\n> Noah\n"):
        found = find_inline_forward(head + tail)
        assert found is not None and "Jan" not in found.body and "answer" not in found.body, tail


@pytest.mark.parametrize(
    "closing",
    [
        "-------- Конец пересылаемого сообщения --------",
        "----- End forwarded message -----",
        "-----------------------------------------",
        "===8<===========End of original message text===========",
    ],
)
def test_a_line_drawn_below_the_forwarded_message_is_not_its_body(closing: str) -> None:
    block = "---------- Forwarded message ---------\nFrom: A <a@example.com>\nDate: 7 Mar 2024"
    text = f"Note.\n\n{block}\n\nHi,\nBye.\n{closing}\n"
    found = find_inline_forward(text)
    assert found is not None and found.body == "Hi,\nBye."
    # Only below it: a rule inside the body stays
    found = find_inline_forward(text.replace("Hi,", f"Hi,\n{closing}"))
    assert found is not None and found.body == f"Hi,\n{closing}\nBye."


def test_yandex_needs_its_sender_line_right_below_a_forward_separator() -> None:
    sender = '07.03.2024, 14:05, "Ivan" <ivan@example.ru>:'
    found = find_inline_forward(f"-------- Пересылаемое сообщение --------\n{sender}\n\nТекст\n")
    assert found is not None and found.from_ == Mailbox("Ivan", "ivan@example.ru") and found.body == "Текст"
    # Not below an original-message separator, not without an address, not further down
    for text in (
        f"-----Original Message-----\n{sender}\n\nТекст\n",
        "-------- Пересылаемое сообщение --------\n07.03.2024, 14:05, Ivan:\n\nТекст\n",
        f"-------- Пересылаемое сообщение --------\nПривет\n{sender}\n\nТекст\n",
    ):
        assert find_inline_forward(text, outer_subject="Fwd: x") is None, text


def test_lotus_notes_forwarded_by_is_a_forward_even_under_a_reply_subject() -> None:
    text = (
        "See below.\n----- Forwarded by Robert Hayes/Sales/Example on 03/12/2024 11:52 AM -----\n\n"
        "From:\tChloe <chloe@example.co.uk>\nTo:\tsales@example.com\nDate:\t03/12/2024 11:40 AM\nSubject:\tWrap\n\nHi\n"
    )
    found = find_inline_forward(text, outer_subject="Re: Wrap")
    assert found is not None and found.from_ == Mailbox("Chloe", "chloe@example.co.uk")
