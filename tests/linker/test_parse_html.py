"""linker/parse.py's HTML reading: lexbor in bounded pieces, for ordinary mail and for hostile bodies."""

from __future__ import annotations

import pytest

from linker import htmlwalk
from linker.htmlwalk import END, MAX_HTML_CHARS, MAX_HTML_NODES, START, TEXT, walk_html
from linker.parse import parse_message

# Hostile HTML bodies: the stdlib's html.parser is quadratic on the first four (CVE-2025-6069), HTML tree builders
# (lexbor's, html5ever's) on deep nesting and on unclosed formatting tags cloned into every paragraph.
HOSTILE = {
    "unclosed_tags": "<a " * 20_000,
    "deep_nesting": "<div>" * 100_000 + "deep" + "</div>" * 100_000,
    "unclosed_comments": "<!--" * 50_000,
    "cdata_soup": "<![CDATA[" * 50_000 + "<p>x<![CDATA[ ]]>" * 10_000,
    "formatting_clones": "<p>" + "".join(f"<b id={i}>" for i in range(5_000)) + "</p><p>x" * 2_500,
    "tag_soup": ("<div><p>x<b>y<table><td>z</i></b><a href=x>q<!-- c --><![CDATA[ ]]>&amp;&#x41;" * 70_000),
}


def html_message(html: str) -> bytes:
    return b"From: a@b.pl\r\nSubject: s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()


def test_events_follow_the_tree() -> None:
    events = [(kind, value) for kind, value, _ in walk_html("<p>a<b>b</b></p><br><hr>c")]
    assert events == [
        (START, "html"), (START, "head"), (END, "head"), (START, "body"),
        (START, "p"), (TEXT, "a"), (START, "b"), (TEXT, "b"), (END, "b"), (END, "p"),
        (START, "br"), (START, "hr"), (TEXT, "c"), (END, "body"), (END, "html"),
    ]  # fmt: skip


def test_pieces_carry_open_elements_over(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a body cut into pieces of three tags, inside a blockquote and a pre
    html = "<blockquote><p>a</p><p>b<pre>c\n  d<b>e</b>\nf</pre>g</p><p>h</p></blockquote><p>after</p>"
    whole = [(kind, value) for kind, value, _ in walk_html(html)]
    monkeypatch.setattr(htmlwalk, "HTML_PIECE_TAGS", 3)
    # when it is walked piece by piece
    cut = [(kind, value) for kind, value, _ in walk_html(html)]
    # then the events are the same as for the whole: no wrapper, start or end twice
    assert len(list(htmlwalk._html_pieces(html))) == 3
    assert cut == whole


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_html_is_walked_in_bounded_work(name: str) -> None:
    html = HOSTILE[name]
    nodes = sum(kind != END for kind, _, _ in walk_html(html))
    # At most the node budget, and never more nodes than a few per tag of the (capped) input.
    assert nodes <= MAX_HTML_NODES
    assert nodes <= 4 * html[:MAX_HTML_CHARS].count("<") + 10


def test_deep_nesting_keeps_its_text() -> None:
    texts = [value for kind, value, _ in walk_html("<div>" * 100_000 + "deep" + "</div>" * 100_000)]
    assert "deep" in texts


def test_only_the_first_mebibyte_is_read() -> None:
    html = "<p>start</p>" + "x" * MAX_HTML_CHARS + "<p>after the cap</p>"
    text = "".join(value for kind, value, _ in walk_html(html) if kind == TEXT)
    assert text.startswith("start") and "after the cap" not in text


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_html_messages_parse(name: str) -> None:
    message = parse_message(html_message(HOSTILE[name]))
    assert message.html is not None
    assert message.text is not None


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_html_through_the_fallback_converter(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "linker.forwards.html", None)
    message = parse_message(html_message(HOSTILE[name]))
    assert message.text is not None


def test_fallback_converter_on_ordinary_html() -> None:
    html = (
        "<html><head><title>t</title><style>p{}</style></head><body><p>Dear Jan,</p><div>line<br>two</div>"
        "<script>x()</script><table><tr><td>a</td><td>b</td></tr></table><p>Tom&nbsp;&amp;&nbsp;Jerry</p></body></html>"
    )
    assert htmlwalk.simple_html_to_text(html) == "Dear Jan,\n\nline\ntwo\n\nab\n\nTom & Jerry"


def test_a_huge_encoded_header_is_decoded_only_up_to_the_cap() -> None:
    import base64

    from linker.charsets import MAX_HEADER_DECODE
    from linker.parse import parse_message

    word = "=?utf-8?b?" + base64.b64encode("Zażółć ".encode()).decode() + "?= "
    raw = (
        "From: a@x.test\r\nTo: b@y.test\r\nSubject: "
        + word * (2 * MAX_HEADER_DECODE // len(word))
        + "\r\nX-Words: "
        + word * (4 * MAX_HEADER_DECODE // len(word))
        + "\r\n\r\nhi\r\n"
    ).encode()

    message = parse_message(raw)

    # Only the words in the first MAX_HEADER_DECODE characters are decoded (the raw message keeps all of them)
    read = MAX_HEADER_DECODE // len(word) + 1
    assert (message.subject or "").startswith("Zażółć Zażółć")
    assert 0 < (message.subject or "").count("Zażółć") <= read
    (words,) = [value for name, value in message.headers if name.lower() == "x-words"]
    assert 0 < words.count("Zażółć") <= read < 4 * MAX_HEADER_DECODE // len(word)


# ---- header fields per block --------------------------------------------------------------------------------------


def _noise(count: int) -> str:
    return "".join(f"X-Trace-{i}: relay{i}.example.net hop {i}\r\n" for i in range(count))


def test_a_flood_of_header_fields_keeps_the_fields_the_linker_reads() -> None:
    from linker.parse import MAX_HEADER_FIELDS, parse_message

    raw = (
        _noise(3 * MAX_HEADER_FIELDS)
        + "From: Jan Novák <jan.novak@acme.test>\r\nTo: anna@crm.test\r\nSubject: OP-123 prices\r\n"
        + "Message-ID: <flood@acme.test>\r\n"
        + _noise(2 * MAX_HEADER_FIELDS).replace("X-Trace", "X-Late")
        + "Subject: a second subject is kept too, within its name's share\r\n"
        + "\r\nhello\r\n"
    ).encode()

    message = parse_message(raw)

    assert [mailbox.address for mailbox in message.from_] == ["jan.novak@acme.test"]
    assert message.subject == "OP-123 prices"
    assert message.message_id == "flood@acme.test"
    assert "hello" in message.text
    names = [name.lower() for name, _ in message.headers]
    assert names[:MAX_HEADER_FIELDS] == [f"x-trace-{i}" for i in range(MAX_HEADER_FIELDS)]
    assert not any(name.startswith("x-late") for name in names)
    assert len(names) < MAX_HEADER_FIELDS + 10
    assert f"{5 * MAX_HEADER_FIELDS - MAX_HEADER_FIELDS} header fields past the first" in " ".join(message.defects)


def test_a_mime_part_with_a_flood_of_fields_keeps_its_content_type() -> None:
    from linker.parse import MAX_HEADER_FIELDS, parse_message

    raw = (
        "From: a@acme.test\r\nTo: b@crm.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\n"
        + _noise(2 * MAX_HEADER_FIELDS)
        + "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Dzień dobry</p>\r\n"
        "--b1--\r\n"
    ).encode()

    message = parse_message(raw)

    assert message.html is not None and "Dzień dobry" in message.html
    assert any("header fields past the first" in defect for defect in message.defects)


def test_ordinary_mail_and_long_prose_after_a_signature_are_never_cut() -> None:
    from linker.rawbounds import MAX_HEADER_FIELDS, bound_header_fields

    ordinary = ("From: a@acme.test\r\nTo: b@crm.test\r\nSubject: hi\r\n" + _noise(200) + "\r\nhi\r\n").encode()
    prose = "".join(f"Line {i} of the minutes, nothing more\r\n" for i in range(2 * MAX_HEADER_FIELDS))
    signed = ("From: a@acme.test\r\nTo: b@crm.test\r\n\r\nBest,\r\nJan\r\n-- \r\n" + prose).encode()
    log = ("From: a@acme.test\r\n\r\nlog:\r\n--\r\n" + _noise(2 * MAX_HEADER_FIELDS)).encode()

    assert bound_header_fields(ordinary) == (ordinary, 0)
    assert bound_header_fields(signed) == (signed, 0)
    # A body run of field-like lines after a "--" line that is no declared boundary is text: never cut
    assert bound_header_fields(log) == (log, 0)


def test_many_lines_that_look_like_delimiters_are_read_as_text_in_linear_time() -> None:
    from linker.parse import parse_message
    from linker.rawbounds import MAX_DASH_LINES

    dashes = "--x\r\n" * (MAX_DASH_LINES + 10)
    single = ("From: a@acme.test\r\nTo: b@crm.test\r\nSubject: log\r\n\r\nstart\r\n" + dashes + "end\r\n").encode()
    multi = (
        "From: a@acme.test\r\nTo: b@crm.test\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nfirst\r\n" + dashes + "--b1\r\nContent-Type: text/html\r\n\r\n"
        "<p>second</p>\r\n--b1--\r\n"
    ).encode()

    one, two = parse_message(single), parse_message(multi)
    one_text, two_text = one.text.replace("\r\n", "\n"), two.text.replace("\r\n", "\n")

    assert one_text.startswith("start\n --x\n --x") and one_text.rstrip().endswith("end")
    assert f"{MAX_DASH_LINES + 10} lines that start with '--'" in " ".join(one.defects)
    # The declared delimiters still cut the parts; the lines between are the first part's text
    assert two_text.startswith("first\n --x") and two.html is not None and "second" in two.html
    assert f"{MAX_DASH_LINES + 10} lines that start with '--'" in " ".join(two.defects)
    # A few such lines (a signature, a separator) are never touched
    few = b"From: a@acme.test\r\n\r\nBest,\r\n-- \r\nJan\r\n--\r\nsent from my phone\r\n"
    assert "\n-- \nJan\n--\n" in parse_message(few).text.replace("\r\n", "\n")
