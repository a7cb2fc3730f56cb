"""linker/forwards/html.py on hostile bodies (bounded work, no error) and on ordinary ones cut into pieces."""

from __future__ import annotations

from pathlib import Path

import pytest

from linker import htmlwalk
from linker.forwards.html import html_to_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HOSTILE = {
    "unclosed_tags": "<a " * 20_000,
    "deep_nesting": "<div>" * 100_000 + "deep" + "</div>" * 100_000,
    "deep_blockquotes": "<blockquote>" * 50_000 + "quoted",
    "unclosed_comments": "<!--" * 50_000,
    "cdata_soup": "<![CDATA[" * 50_000 + "<p>x<![CDATA[ ]]>" * 10_000,
    "formatting_clones": "<p>" + "".join(f"<b id={i}>" for i in range(5_000)) + "</p><p>x" * 2_500,
    "tag_soup": ("<div><p>x<b>y<table><td>z</i></b><a href=x>q<!-- c --><![CDATA[ ]]>&amp;&#x41;" * 70_000),
    "long_line": "<span>word</span> " * 100_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_html_becomes_text(name: str) -> None:
    text = html_to_text(HOSTILE[name])
    assert isinstance(text, str)
    assert len(text) <= htmlwalk.MAX_HTML_CHARS * 4  # "> " quoting at most doubles a line; never unbounded


def test_deep_nesting_keeps_its_text() -> None:
    assert html_to_text(HOSTILE["deep_nesting"]) == "deep"


def test_a_long_line_of_inline_tags_stays_one_line() -> None:
    assert html_to_text("<p>" + "<span>a</span> " * 50_000 + "</p>") == " ".join(["a"] * 50_000)


def test_formatting_clones_stop_at_the_node_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a walk that counts the nodes the builder sees
    seen = 0
    walk = htmlwalk.walk_html

    def counting(html: str):  # type: ignore[no-untyped-def]
        nonlocal seen
        for event in walk(html):
            seen += event[0] != htmlwalk.END
            yield event

    monkeypatch.setattr("linker.forwards.html.walk_html", counting)
    # when 74 KB that a tree builder turns into 12 million elements is read
    html_to_text(HOSTILE["formatting_clones"])
    # then the walk stops at the budget
    assert 0 < seen <= htmlwalk.MAX_HTML_NODES


ORDINARY = sorted(p for p in FIXTURES.glob("**/*.html") if p.parent.name != "hostile")


def test_there_is_ordinary_html() -> None:
    assert len(ORDINARY) >= 5


@pytest.mark.parametrize("path", ORDINARY, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_ordinary_html_reads_the_same_in_small_pieces(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    html = path.read_text()
    whole = html_to_text(html)
    monkeypatch.setattr(htmlwalk, "HTML_PIECE_TAGS", 7)
    assert html_to_text(html) == whole
