"""store/safehtml.py on hostile bodies: bounded work and no error; ordinary mail counted the same in small pieces."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import safehtml as sanitize
from store.safehtml import sanitize_email_html

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "html"
# Small enough for nh3 (html5ever), whose tree builder is quadratic in nesting depth too: bench/hostile.py measures
# the 100k-deep case. The count's own parse is bounded whatever the size.
HOSTILE = {
    "unclosed_tags": "<a " * 20_000,
    "deep_nesting": "<div>" * 5_000,
    "unclosed_comments": "<!--" * 50_000,
    "cdata_soup": "<![CDATA[" * 50_000 + "<p>x<![CDATA[ ]]>" * 10_000,
    "tag_soup": "<div><p>x<b>y<table><td>z</i></b><a href=x>q<!-- c --><![CDATA[ ]]>&amp;&#x41;" * 70_000,
    "remote_soup": '<video src="https://v.example/a.mp4"><link href=//l.example/s.css rel=stylesheet>' * 20_000,
}


def no_cids(content_id: str) -> str | None:
    return None


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_html_is_sanitized(name: str) -> None:
    result = sanitize_email_html(HOSTILE[name], cid_url=no_cids)
    assert result.html.startswith("<!doctype html>")
    assert "<video" not in result.html and "<link" not in result.html


def test_the_count_of_a_huge_body_stops_at_its_caps() -> None:
    html = HOSTILE["remote_soup"]
    # 40,000 remote references, of which the first MAX_COUNTED_CHARS are looked at
    blocked = sanitize._dropped_resources(html)
    assert 0 < len(blocked) <= html[: sanitize.MAX_COUNTED_CHARS].count("example")
    assert set(sanitize._host(u) for u in blocked) == {"v.example", "l.example"}


@pytest.mark.parametrize("name", ["deep_nesting", "formatting_clones"])
def test_the_count_parses_tree_bombs_in_bounded_pieces(name: str) -> None:
    html = {
        "deep_nesting": "<div>" * 100_000 + '<video src="https://deep.example/v.mp4">',
        "formatting_clones": "<p>" + "".join(f"<b id={i}>" for i in range(5_000)) + "</p><p>x" * 2_500,
    }[name]
    pieces = list(sanitize._pieces(html))
    assert all(piece.count("<") <= 2 * sanitize.COUNT_PIECE_TAGS for piece in pieces)
    assert sum(1 for _ in sanitize._elements(html)) <= sanitize.MAX_COUNTED_ELEMENTS
    if name == "deep_nesting":
        assert sanitize._dropped_resources(html) == ["https://deep.example/v.mp4"]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("**/*.html")), ids=lambda p: p.stem)
def test_counts_are_the_same_in_small_pieces(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    html = path.read_text()
    whole = sanitize_email_html(html, cid_url=no_cids)
    monkeypatch.setattr(sanitize, "COUNT_PIECE_TAGS", 7)
    assert sanitize_email_html(html, cid_url=no_cids) == whole


def test_html_too_deep_or_too_large_is_not_rendered_and_the_frame_says_why() -> None:
    from store.safehtml import MAX_RENDER_CHARS, MAX_RENDER_DEPTH, MAX_RENDER_TAGS, render_refusal, sanitize_email_html

    cases = {
        "nested": "<div>" * 100_000,
        "cloned": "".join(f"<b id={i}>" for i in range(5_000)) + "</p><p>x" * 2_500,
        "tags": "<p>x</p>" * (MAX_RENDER_TAGS + 1),
        "large": "<p>" + "x" * MAX_RENDER_CHARS + "</p>",
    }
    for name, html in cases.items():
        reason = render_refusal(html)
        assert reason is not None, name
        page = sanitize_email_html(html, cid_url=lambda cid: None)
        assert "This HTML body is not shown" in page.html and reason in page.html
        assert page.html.count("<div>") == 0 and page.blocked == 0
    assert f"more than {MAX_RENDER_DEPTH} deep" in (render_refusal(cases["nested"]) or "")


def test_ordinary_rich_mail_is_rendered_as_before() -> None:
    from store.safehtml import render_refusal, sanitize_email_html

    newsletter = (
        "<html><body><table><tr><td>"
        + "<p>Offer <b>OP-123</b><br/><img src='cid:logo'/></p>" * 500
        + "<svg>"
        + "<path d='M0 0'/>" * 2_000
        + "</svg></td></tr></table></body></html>"
    )
    assert render_refusal(newsletter) is None
    assert "Offer <b>OP-123</b>" in sanitize_email_html(newsletter, cid_url=lambda cid: None).html
