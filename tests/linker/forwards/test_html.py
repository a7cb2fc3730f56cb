"""HTML bodies turned into the text the inline parser reads."""

from __future__ import annotations

from linker.forwards.html import RULE, html_to_text
from linker.forwards.inline import find_inline_forward


def test_blocks_and_breaks_become_lines() -> None:
    html = "<div>one</div><div>two<br>three</div><p>four</p>"
    assert html_to_text(html) == "one\ntwo\nthree\nfour"


def test_whitespace_collapses_like_a_browser() -> None:
    assert html_to_text("<p>  a \n  b\t c  </p>") == "a b c"


def test_pre_keeps_its_lines() -> None:
    assert html_to_text("<pre>a\n  b</pre>") == "a\n  b"


def test_entities_and_nbsp() -> None:
    assert html_to_text("<p>Tom&nbsp;&amp;&nbsp;Jerry &lt;tj@example.com&gt;</p>") == "Tom & Jerry <tj@example.com>"


def test_empty_paragraphs_are_blank_lines() -> None:
    # Outlook writes an empty line as <p>&nbsp;</p>, Gmail as <div><br></div>.
    html = (
        "<p class=MsoNormal>a<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
        "<div>b</div><div><br></div><div>c</div>"
    )
    assert html_to_text(html) == "a\n\nb\n\nc"


def test_hidden_parts_are_dropped() -> None:
    html = "<html><head><title>t</title><style>p{}</style></head><body><script>x()</script><p>shown</p></body></html>"
    assert html_to_text(html) == "shown"


def test_hr_is_outlooks_rule() -> None:
    assert html_to_text("<div>note</div><hr><div>From: x</div>") == f"note\n{RULE}\nFrom: x"


def test_blockquote_is_quoted() -> None:
    assert html_to_text("<div>top</div><blockquote><div>a</div><blockquote>b</blockquote></blockquote>") == (
        "top\n> a\n> > b"
    )


def test_table_cells_are_spaced() -> None:
    assert html_to_text("<table><tr><td>From:</td><td>Jan</td></tr><tr><td>To:</td><td>Ann</td></tr></table>") == (
        "From: Jan\nTo: Ann"
    )


def test_image_alt_text() -> None:
    assert html_to_text('<p>logo <img src="cid:1" alt="ACME"></p>') == "logo ACME"


def test_broken_html_does_not_raise() -> None:
    assert html_to_text("<div><p>unclosed <b>bold</div></span>") == "unclosed bold"


def test_outlook_desktop_forward_end_to_end() -> None:
    # Given an HTML-only forward from Outlook desktop, with the header block in a bordered div
    html = (
        '<div class="WordSection1"><p class="MsoNormal">Proszę o ofertę.<o:p></o:p></p>'
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p><div style="border:none;border-top:solid #E1E1E1 1.0pt">'
        '<p class="MsoNormal"><b>Od:</b> Tomasz Wiśniewski &lt;t.wisniewski@acme-logistics.pl&gt;<br>'
        "<b>Wysłano:</b> poniedziałek, 4 marca 2024 09:15<br><b>Do:</b> sprzedaz@example.pl<br>"
        "<b>Temat:</b> Zapytanie<o:p></o:p></p></div>"
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">Dzień dobry<o:p></o:p></p></div>'
    )
    # when it is turned into text and parsed
    found = find_inline_forward(html_to_text(html), outer_subject="PD: Zapytanie")
    # then the forwarded header and body come out of the HTML
    assert found is not None
    assert found.from_ is not None and found.from_.address == "t.wisniewski@acme-logistics.pl"
    assert found.subject == "Zapytanie"
    assert found.body == "Dzień dobry"
    assert found.note == "Proszę o ofertę."
