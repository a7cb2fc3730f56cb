"""Turn an HTML body into the plain text a mail client would have written, so the inline parser can read it.

Block elements and ``<br>`` become line breaks, one per block (Outlook's ``MsoNormal`` paragraphs and Gmail's
``<div>`` lines are lines, not paragraphs), ``<hr>`` becomes Outlook's underscore rule, ``<blockquote>`` becomes
``> `` quoting, and scripts, styles and the head are dropped. Only the standard library's ``html.parser``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

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


class _TextBuilder(HTMLParser):
    """Collects text line by line; whitespace collapses as a browser would, except inside ``<pre>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.hidden = 0
        self.pre = 0
        self.quote = 0
        #: The block so far held only a non-breaking space: Outlook's and OWA's way to write an empty line.
        self.spacer = False

    def _break(self) -> None:
        text = "".join(self.current).rstrip()
        self.lines.append((("> " * self.quote) + text).rstrip() if self.quote else text)
        self.current = []

    def _block(self) -> None:
        if "".join(self.current).strip() or self.spacer:
            self._break()
        else:
            self.current = []
        self.spacer = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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
        elif tag in ("td", "th") and "".join(self.current).strip():
            self.current.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self.hidden:
                self.handle_data(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in HIDDEN:
            self.hidden -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in BLOCKS:
            self._block()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if "\xa0" in data and not data.replace("\xa0", "").strip() and not "".join(self.current).strip():
            self.spacer = True
        data = data.replace("\xa0", " ")
        if self.pre:
            first, *rest = data.split("\n")
            self.current.append(first)
            for piece in rest:
                self._break()
                self.current.append(piece)
            return
        data = re.sub(r"\s+", " ", data)
        if not self.current or "".join(self.current).endswith(" "):
            data = data.lstrip()
        self.current.append(data)

    def text(self) -> str:
        self._block()
        joined = "\n".join(line.rstrip() for line in self.lines)
        return re.sub(r"\n{3,}", "\n\n", joined).strip()


def html_to_text(html: str) -> str:
    """Readable text for an HTML body, with a line break wherever a block or ``<br>`` was."""
    builder = _TextBuilder()
    builder.feed(html)
    builder.close()
    return builder.text()
