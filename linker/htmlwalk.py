"""HTML bodies read as a browser would build them, in bounded work: lexbor (a linear C parser) over pieces of the
body, with the elements open at the end of one piece carried into the next.

``walk_html`` yields start, end and text events; ``linker.forwards.html`` turns them into text with quoting, and
``simple_html_to_text`` is the plain fallback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

from linker import budget

#: Characters of an HTML body read for its text (and for inline forwards); the rest is ignored there, and the
#: message keeps all of it. 1 Mi characters is hundreds of pages of mail.
MAX_HTML_CHARS = 1 << 20


#: HTML is parsed (by lexbor) in pieces of this many tags. The HTML tree builder, lexbor's as every browser's, is
#: quadratic in nesting depth (100k ``<div>``: 12 s) and can clone unclosed formatting tags into every paragraph
#: (70 KB became 12 million elements): pieces bound both. Open elements carry over from piece to piece.
HTML_PIECE_TAGS = 1_000


#: Nodes (elements and texts) walked per HTML body; past this the text stops (ordinary mail has far fewer than
#: ``MAX_HTML_CHARS`` allows: ~120k). Only cloned formatting tags reach it.
MAX_HTML_NODES = 400_000


#: Open elements re-opened at the start of the next piece (innermost ones when there are more).
HTML_CARRIED_ELEMENTS = 64


#: ``walk_html`` events: an element starts (value: its tag, node: it), ends (value: its tag), or text (value).
START, END, TEXT = 0, 1, 2


_MARKUP = re.compile(r"<(?:!--|[A-Za-z])")


_WRAPPERS = frozenset({"html", "head", "body"})


# Ends every piece but the last: a comment goes where the next node would, so its ancestors are the open elements.
_CUT = "<!--mailassist:cut-->"


#: Elements without content or end tag: ``walk_html`` gives them no ``END`` (as the source has none).
VOID_ELEMENTS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)


def walk_html(html: str) -> Iterator[tuple[int, str, LexborNode | None]]:
    """Events of an HTML body as a browser would build it: the first ``MAX_HTML_CHARS``, in bounded work."""
    carried: list[str] = []
    walked = 0
    pieces = _html_pieces(html[:MAX_HTML_CHARS])
    piece = next(pieces, None)
    while piece is not None:
        budget.check()
        following = next(pieces, None)
        reopen = "".join(f"<{tag}>" for tag in carried if tag not in _WRAPPERS)
        root = LexborHTMLParser(reopen + piece + (_CUT if following is not None else "")).root
        if root is None:
            return
        still_open = _open_at_end(root) if following is not None else {}
        for event in _html_events(root, carried, still_open):
            walked += event[0] != END
            if walked > MAX_HTML_NODES:
                return
            yield event
        inner = [tag for tag in still_open.values() if tag not in _WRAPPERS]
        carried = [tag for tag in still_open.values() if tag in _WRAPPERS] + inner[-HTML_CARRIED_ELEMENTS:]
        piece = following


def _html_pieces(html: str) -> Iterator[str]:
    """``html`` cut before every ``HTML_PIECE_TAGS``-th tag (not inside a comment)."""
    start = position = tags = 0
    while (found := _MARKUP.search(html, position)) is not None:
        if found.group() == "<!--":
            close = html.find("-->", found.end())
            if close < 0:
                break
            position = close + 3
            continue
        tags += 1
        if tags > HTML_PIECE_TAGS:
            yield html[start : found.start()]
            start, tags = found.start(), 1
        position = found.end()
    yield html[start:]


def _open_at_end(root: LexborNode) -> dict[int, str]:
    """The elements open when the piece ended (``_CUT``'s ancestors, else the last node's), outermost first, by
    ``mem_id``."""
    path: dict[int, str] = {root.mem_id: root.tag or ""}
    node = root.last_child
    while node is not None and node.is_element_node:
        path[node.mem_id] = node.tag or ""
        node = node.last_child
    return path


def _html_events(
    root: LexborNode, carried: list[str], still_open: dict[int, str]
) -> Iterator[tuple[int, str, LexborNode | None]]:
    """Depth-first events from the document element down, except for the elements carried over from the last piece
    (their starts were given then) and those still open at the end of this one (their ends come with the next)."""
    pending = list(reversed(carried))
    node: LexborNode | None = root
    depth = 0
    while node is not None:
        tag = node.tag or ""
        if node.is_text_node:
            text = node.text_content or ""
            yield TEXT, text.replace(_CUT, "") if still_open and _CUT in text else text, None
        elif node.is_element_node:
            if pending and pending[-1] == tag:
                pending.pop()
            elif not (carried and tag == "head" and node.child is None):  # the next piece's empty head
                yield START, tag, node
            child = node.child
            if child is not None:
                node, depth = child, depth + 1
                continue
            if tag not in VOID_ELEMENTS and not (carried and tag == "head"):
                yield END, tag, None
        while depth and node.next is None:
            node, depth = node.parent, depth - 1
            if node is None:
                return
            if node.mem_id not in still_open:
                yield END, node.tag or "", None
        node = node.next if depth else None


_BLOCKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"})


_HIDDEN = frozenset({"script", "style", "head", "title"})


def simple_html_to_text(html: str) -> str:
    chunks: list[str] = []
    hidden = 0
    for kind, value, _ in walk_html(html):
        if kind == TEXT:
            if not hidden:
                chunks.append(value)
        elif value in _HIDDEN:
            hidden += 1 if kind == START else -1
        elif value in _BLOCKS:
            chunks.append("\n")
    lines = (" ".join(line.split()) for line in "".join(chunks).replace("\xa0", " ").splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
