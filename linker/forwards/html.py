"""Turn an HTML body into the plain text a mail client would have written, so the inline parser can read it.

Block elements and ``<br>`` become line breaks, one per block (Outlook's ``MsoNormal`` paragraphs and Gmail's
``<div>`` lines are lines, not paragraphs), ``<hr>`` becomes Outlook's underscore rule, ``<blockquote>`` becomes
``> `` quoting, and scripts, styles and the head are dropped. The HTML is read by ``linker.htmlwalk.walk_html``
(lexbor, in bounded work: the first ``MAX_HTML_CHARS``), never by the stdlib's ``html.parser``, which is
quadratic on unclosed tags and comments (CVE-2025-6069).
"""

from __future__ import annotations

import re

from linker.htmlwalk import END, START, TEXT, walk_html

#: Elements that start and end a line.
BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
        "pre", "section", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
#: Elements whose content is never shown.
HIDDEN = frozenset({"head", "script", "style", "title", "template", "noscript", "xml"})
#: What Outlook writes above a quoted header in its plain-text part.
RULE = "_" * 32


_SPACES = re.compile(r"\s+")


class _TextBuilder:
    """Collects text line by line; whitespace collapses as a browser would, except inside ``<pre>``."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.hidden = 0
        self.pre = 0
        self.quote = 0
        #: The line so far holds more than whitespace, and ends in a space: kept as pieces arrive, because joining
        #: the line for each piece would be quadratic in the pieces of one long line.
        self.has_text = False
        self.ends_in_space = False
        #: The block so far held only a non-breaking space: Outlook's and OWA's way to write an empty line.
        self.spacer = False

    def _append(self, piece: str) -> None:
        self.current.append(piece)  # even when empty: a line that has begun keeps the next piece's leading space
        if piece:
            self.has_text = self.has_text or not piece.isspace()
            self.ends_in_space = piece.endswith(" ")

    def _break(self) -> None:
        text = "".join(self.current).rstrip()
        self.lines.append((("> " * self.quote) + text).rstrip() if self.quote else text)
        self.current = []
        self.has_text = self.ends_in_space = False

    def _block(self) -> None:
        if self.has_text or self.spacer:
            self._break()
        else:
            self.current = []
            self.ends_in_space = False
        self.spacer = False

    def start(self, tag: str, alt: str | None) -> None:
        """An element starts."""
        if tag in HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self._break()
        elif tag == "hr":
            self._block()
            self.lines.append(RULE)
        elif tag in BLOCKS:
            self._block()
            self.pre += tag == "pre"
            self.quote += tag == "blockquote"
        elif tag in ("td", "th") and self.has_text:
            self._append(" ")
        elif tag == "img" and alt and not self.hidden:
            self.data(alt)

    def end(self, tag: str) -> None:
        """An element ends (every element does, once: the events come from a tree)."""
        if tag in HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in BLOCKS:
            self._block()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)

    def data(self, data: str) -> None:
        """Text."""
        if self.hidden:
            return
        if "\xa0" in data and not data.replace("\xa0", "").strip() and not self.has_text:
            self.spacer = True
        data = data.replace("\xa0", " ")
        if self.pre:
            first, *rest = data.split("\n")
            self._append(first)
            for piece in rest:
                self._break()
                self._append(piece)
            return
        data = _SPACES.sub(" ", data)
        if not self.current or self.ends_in_space:
            data = data.lstrip()
        self._append(data)

    def text(self) -> str:
        self._block()
        joined = "\n".join(line.rstrip() for line in self.lines)
        return re.sub(r"\n{3,}", "\n\n", joined).strip()


def html_to_text(html: str) -> str:
    """Readable text for an HTML body, with a line break wherever a block or ``<br>`` was."""
    builder = _TextBuilder()
    for kind, value, node in walk_html(html):
        if kind == TEXT:
            builder.data(value)
        elif kind == START:
            builder.start(value, node.attributes.get("alt") if value == "img" and node is not None else None)
        elif kind == END:
            builder.end(value)
    return builder.text()
