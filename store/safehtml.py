"""Make an email's HTML body safe to render: nh3 (Ammonia) with an email-sized allowlist, ``cid:`` images pointed at
the attachments, and remote resources (tracking pixels) blocked and counted. Pure functions, no I/O.

The store sanitizes a body once, when its message is filed (``sanitize_for_storage``), and keeps the result next to
the original; a page view only points the kept ``cid:`` images at their attachments (``resolve_cids``, one regular
expression over the document).

The result is a complete document for an iframe with ``sandbox=IFRAME_SANDBOX``, served with the header
``Content-Security-Policy: CSP_FOR_EMAIL_FRAME``. Serve it from its own route (``/messages/{id}/html``) rather than
``srcdoc``: a srcdoc document cannot get its own CSP header and inherits the parent page's instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html import escape, unescape
from urllib.parse import quote, unquote, urlsplit

import nh3
from selectolax.lexbor import LexborHTMLParser, LexborNode


def _names(spaced: str) -> frozenset[str]:
    """A set of names written as one space-separated string, for long allowlists."""
    return frozenset(spaced.split())


#: The iframe's ``sandbox`` value: no scripts, no same-origin, no forms, no top navigation. Links open (they carry
#: ``target=_blank``) in an unsandboxed tab, so the sender's site works normally there.
IFRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"

_CSP_BASE = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    f"frame-ancestors 'self'; sandbox {IFRAME_SANDBOX}; img-src 'self' data:"
)
#: The CSP for the iframe document: no script at all, images only from us (cid attachments) or ``data:``.
#: The ``sandbox`` directive also sandboxes the document when someone opens its URL directly.
CSP_FOR_EMAIL_FRAME = _CSP_BASE
#: The same CSP for when the reader chose to load remote images (``allow_remote=True``).
CSP_FOR_EMAIL_FRAME_REMOTE = _CSP_BASE + " https: http:"

#: Formatting tags found in real mail. Everything else is dropped and its text kept, except ``_DROPPED_WITH_CONTENT``.
ALLOWED_TAGS = _names(
    "a abbr acronym address article aside b bdi bdo big blockquote br caption center cite code col colgroup dd del "
    "details dfn div dl dt em figcaption figure font footer h1 h2 h3 h4 h5 h6 header hgroup hr i img ins kbd li main "
    "mark nav ol p pre q rp rt ruby s samp section small span strike strong sub summary sup table tbody td tfoot th "
    "thead time tr tt u ul var wbr"
)
# Their text is code, markup or a fallback that must not show up as visible text.
_DROPPED_WITH_CONTENT = _names(
    "script style title template noscript iframe noframes noembed object applet svg math xmp select"
)
#: Per-tag attributes. No ``id``/``name``/``class`` (nothing to target without stylesheets), no ``on*``, no ``ping``.
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"align", "valign", "dir", "lang", "title", "style", "width", "height", "bgcolor", "role"},
    "a": {"href"},
    "img": {"src", "srcset", "alt", "border", "hspace", "vspace"},
    "table": {"border", "cellpadding", "cellspacing", "summary", "frame", "rules", "background"},
    "td": {"colspan", "rowspan", "nowrap", "scope", "abbr", "background"},
    "th": {"colspan", "rowspan", "nowrap", "scope", "abbr", "background"},
    "tr": {"background"},
    "tbody": {"background"},
    "thead": {"background"},
    "tfoot": {"background"},
    "col": {"span"},
    "colgroup": {"span"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value", "type"},
    "hr": {"size", "noshade", "color"},
    "time": {"datetime"},
    "del": {"datetime"},
    "ins": {"datetime"},
    "details": {"open"},
}
#: CSS properties kept in ``style``: box, text and table formatting. Not ``position``/``z-index`` (overlays),
#: ``content``, ``cursor``, ``list-style-image``, ``border-image``, ``mask``, ``filter``, ``behavior``...
STYLE_PROPERTIES = _names(
    "background background-color background-image background-position background-repeat background-size "
    "border border-top border-right border-bottom border-left border-color border-style border-width "
    "border-top-color border-right-color border-bottom-color border-left-color border-top-style border-right-style "
    "border-bottom-style border-left-style border-top-width border-right-width border-bottom-width border-left-width "
    "border-radius border-collapse border-spacing caption-side clear color direction display empty-cells float font "
    "font-family font-size font-style font-variant font-weight height letter-spacing line-height list-style "
    "list-style-position list-style-type margin margin-top margin-right margin-bottom margin-left max-height "
    "max-width min-height min-width opacity overflow overflow-wrap padding padding-top padding-right padding-bottom "
    "padding-left table-layout text-align text-decoration text-indent text-transform vertical-align visibility "
    "white-space width word-break word-spacing word-wrap"
)
# A declaration containing any of these is dropped. Backslashes would let CSS escapes spell ``url(`` (``u\72l(``);
# the functions fetch URLs from plain strings; the rest is legacy script-in-CSS.
_CSS_BANNED = (
    "\\", "/*", "expression", "javascript:", "vbscript:", "behavior", "-moz-binding", "@import",
    "image-set(", "image(", "cross-fade(", "element(", "paint(", "src(", "attr(",
)  # fmt: skip
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import\s+['\"]\s*([^'\"]*)", re.IGNORECASE)
_REMOTE = re.compile(r"^(?:https?:)?[/\\]{2}", re.IGNORECASE)
_DATA_IMAGE = re.compile(r"^data:image/(?:png|gif|jpe?g|webp);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)
_LINK = re.compile(r"^(?:https?://|mailto:|tel:)", re.IGNORECASE)
# What browsers strip from both ends of a URL before parsing it.
_URL_JUNK = "".join(chr(c) for c in range(0x21))
# Fetch-on-render attributes of elements the allowlist drops wholesale; ``_DroppedResources`` counts those.
_FETCH_ATTRS = frozenset({"src", "poster", "data", "background", "srcset", "codebase"})
_FETCH_HREF_TAGS = frozenset({"link", "image", "use", "feimage"})  # (xlink:)href fetches here; on a or base it does not
#: Characters of a body searched for the remote resources of dropped elements (the blocked count is a notice);
#: the sanitizer itself reads all of it.
MAX_COUNTED_CHARS = 1 << 20
#: The count's parse (lexbor) takes the body in pieces of this many tags: an HTML tree builder is quadratic in
#: nesting depth (100k ``<div>``: 12 s) and clones unclosed formatting tags into every paragraph.
COUNT_PIECE_TAGS = 1_000
#: Elements looked at for the count; past this it stops (only cloned formatting tags get there).
MAX_COUNTED_ELEMENTS = 200_000
_MARKUP = re.compile(r"<(?:!--|[A-Za-z])")
# Start tags an HTML tree builder drops or renames in a body (``<frame>``; ``<image>`` becomes ``<img>``), and
# under which name the count's parse sees them, so that their URLs are still counted.
_HIDDEN_FROM_TREE = re.compile(r"<(frameset|frame|image)(?=[\s/>])", re.IGNORECASE)
_RENAMED = "mailassist-"
_FRAME_CSS = (
    "body{margin:8px;font:14px/1.45 system-ui,sans-serif;color:#1f2328;overflow-wrap:anywhere}"
    "img{max-width:100%}table{max-width:100%}"
)


@dataclass(frozen=True)
class SanitizedHtml:
    """A sanitized email body: a complete HTML document, and what remote content it no longer loads."""

    html: str  #: ``<!doctype html>…<body>SANITIZED</body></html>``; UTF-8 text, serve as ``text/html; charset=utf-8``
    blocked: int  #: remote URLs the output no longer fetches, one per reference (``src`` + 2-URL ``srcset`` is 3)
    blocked_hosts: tuple[str, ...]  #: distinct hosts of those URLs, lower-case, in order of first appearance


def sanitize_email_html(
    html: str, *, cid_url: Callable[[str], str | None], allow_remote: bool = False
) -> SanitizedHtml:
    """Sanitize ``html`` into a document for the sandboxed iframe; ``cid_url`` maps a Content-ID to a URL or None.

    HTML past ``render_refusal``'s bounds is not handed to the sanitizer at all: the frame says why instead."""
    refusal = render_refusal(html)
    if refusal is not None:
        note = f"<p><strong>This HTML body is not shown:</strong> {refusal}. The text version is above.</p>"
        return SanitizedHtml(html=_document(note), blocked=0, blocked_hosts=())
    policy = _Policy(cid_url, allow_remote)
    body = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=_DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=policy.filter,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        # Ammonia drops other schemes before ``policy.filter`` sees a value; the filter then decides on the rest.
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        filter_style_properties=STYLE_PROPERTIES,
    )
    urls = [*policy.blocked, *_dropped_resources(html)]
    hosts = dict.fromkeys(h for h in map(_host, urls) if h)
    return SanitizedHtml(html=_document(body), blocked=len(urls), blocked_hosts=tuple(hosts))


def sanitize_for_storage(html: str, content_ids: Iterable[str | None]) -> SanitizedHtml:
    """``sanitize_email_html`` as the store keeps it: ``cid:`` images of the message's own attachments (their
    ``content_ids``) stay ``cid:`` URLs, for ``resolve_cids`` to point at the attachment when the page is served; the
    other ``cid:`` images are dropped."""
    known = {bare for content_id in content_ids if content_id and (bare := _bare_cid(content_id))}
    known |= {unquote(content_id) for content_id in known}

    def kept(content_id: str) -> str | None:
        bare = _bare_cid(content_id)
        return f"cid:{quote(bare, safe='@')}" if bare in known else None

    return sanitize_email_html(html, cid_url=kept)


#: A start tag in the sanitizer's output. Text there has ``<`` escaped, and attribute values are quoted with ``"``
#: and have it escaped, so this finds real tags only; and in a tag, ``_KEPT_CID`` matches real attributes only
#: (inside a value, a ``"`` would be the value's end, which a space, ``/`` or ``>`` follows, never ``cid:``).
_START_TAG = re.compile(r'<[A-Za-z][^\s/>]*(?:\s+[^\s"\'>/=]+(?:="[^"]*")?)*\s*/?>')
#: An image attribute that ``sanitize_for_storage`` kept as a ``cid:`` URL.
_KEPT_CID = re.compile(r'\s(src|background)="cid:([^"]*)"')


def resolve_cids(document: str, cid_url: Callable[[str], str | None]) -> str:
    """A stored document with its ``cid:`` images pointed at ``cid_url``'s URLs (attributes it has none for go)."""

    def point(found: re.Match[str]) -> str:
        url = cid_url(unquote(unescape(found[2])))
        return "" if url is None else f' {found[1]}="{escape(url, quote=True)}"'

    def tag(found: re.Match[str]) -> str:
        return _KEPT_CID.sub(point, found[0]) if "cid:" in found[0] else found[0]

    return _START_TAG.sub(tag, document) if "cid:" in document else document


def _bare_cid(content_id: str) -> str:
    return content_id.strip().strip("<>")


def _document(body: str) -> str:
    return f"<!doctype html><html><head><style>{_FRAME_CSS}</style></head><body>{body}</body></html>"


#: Bounds on the HTML the sanitizer is given. nh3 (html5ever) builds a tree, and every HTML tree builder is
#: quadratic in nesting depth (100k nested ``<div>``: 24 s a page view) and clones unclosed formatting tags into
#: every paragraph (72 KB: 11 s); it also costs ~0.1 s per MB. Real mail stays far inside these: a long newsletter
#: is a few thousand tags, nested a few dozen deep, under 1 MB.
MAX_RENDER_CHARS = 2 << 20
MAX_RENDER_TAGS = 50_000
MAX_RENDER_DEPTH = 400
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
_NO_END_TAG = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)


def render_refusal(html: str) -> str | None:
    """Why ``html`` is too large or too deep to sanitize in bounded time, or ``None``. One linear scan (the next
    ``>`` is found once per stretch, never once per tag): the depth is an upper bound, every start tag opening and
    every end tag closing (browsers close some implicitly)."""
    if len(html) > MAX_RENDER_CHARS:
        return f"it is {len(html) // 1024} KiB, more than {MAX_RENDER_CHARS // 1024} KiB"
    depth = deepest = 0
    gt = -1  # the first ">" at or after the current tag
    for tags, match in enumerate(_TAG.finditer(html), 1):
        if tags > MAX_RENDER_TAGS:
            return f"it has more than {MAX_RENDER_TAGS} tags"
        closing, name = match.groups()
        if gt < match.end():
            gt = html.find(">", match.end())
            if gt < 0:
                gt = len(html)
        if closing:
            depth = max(0, depth - 1)
        elif html[gt - 1 : gt] != "/" and name.lower() not in _NO_END_TAG:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_RENDER_DEPTH:
                    return f"its elements nest more than {MAX_RENDER_DEPTH} deep"
    return None


class _Policy:
    """The per-call ``attribute_filter``: rewrites cid URLs, keeps or blocks remote ones and records what it blocks."""

    def __init__(self, cid_url: Callable[[str], str | None], allow_remote: bool) -> None:
        self.cid_url = cid_url
        self.allow_remote = allow_remote
        self.blocked: list[str] = []

    def filter(self, tag: str, attr: str, value: str) -> str | None:
        """Return the attribute's safe value, or None to drop it."""
        if tag not in ALLOWED_TAGS:
            # Some nh3 versions also filter attributes of elements they are about to drop; _DroppedResources counts
            # those, so they must not be counted twice.
            return None
        if attr in ("src", "background"):
            return self.resource(value)
        if attr == "srcset":
            return self.srcset(value)
        if attr == "href":
            url = value.strip(_URL_JUNK)
            return url if _LINK.match(url) else ("https:" + url if url.startswith("//") else None)
        if attr == "style":
            return self.style(value)
        return value

    def resource(self, value: str) -> str | None:
        """An image URL: ``cid:`` rewritten, ``data:`` raster images kept, remote kept or blocked, the rest dropped."""
        url = value.strip(_URL_JUNK)
        if _REMOTE.match(url):
            if self.allow_remote:
                return url
            self.blocked.append(url)
            return None
        if url[:4].lower() == "cid:":
            # RFC 2392: a cid URL is the Content-ID without its angle brackets, percent-encoded.
            return self.cid_url(unquote(url[4:]))
        return url if _DATA_IMAGE.match(url) else None

    def srcset(self, value: str) -> str | None:
        """Keep a srcset only when remote images are allowed and every candidate is remote."""
        urls = [c.split()[0] for c in value.split(",") if c.strip()]
        remote = [u for u in urls if _REMOTE.match(u)]
        if self.allow_remote and urls and len(remote) == len(urls):
            return value
        self.blocked.extend(remote)
        return None

    def style(self, value: str) -> str | None:
        """Keep allowlisted declarations free of script and escapes, whose ``url()``s are remote and allowed."""
        kept = []
        for declaration in value.split(";"):
            name, colon, css = declaration.partition(":")
            name, lowered = name.strip().lower(), css.lower()
            urls = _CSS_URL.findall(css)
            remote = [u for u in urls if _REMOTE.match(u)]
            safe = bool(colon) and name in STYLE_PROPERTIES and not any(bad in lowered for bad in _CSS_BANNED)
            if safe and len(remote) == len(urls) and (self.allow_remote or not urls):
                kept.append(f"{name}:{css.strip()}")
            else:
                self.blocked.extend(remote)
        return ";".join(kept) or None


def _dropped_resources(html: str) -> list[str]:
    """Remote URLs that disallowed elements (link, video, iframe, style…) would have fetched.

    The sanitizer drops these elements without showing them to the attribute filter, so this lenient parse (lexbor,
    in bounded pieces) only counts them for the "N remote resources blocked" notice; it decides nothing about safety.
    """
    urls: list[str] = []
    for element in _elements(_HIDDEN_FROM_TREE.sub(rf"<{_RENAMED}\1", html[:MAX_COUNTED_CHARS])):
        tag = (element.tag or "").lower().removeprefix(_RENAMED)
        if tag == "style":
            css = element.text(deep=True)
            found = [*_CSS_URL.findall(css), *_CSS_IMPORT.findall(css)]
            urls.extend(u for u in found if _REMOTE.match(u))
        if tag in ALLOWED_TAGS:
            continue
        for name, value in element.attributes.items():
            fetches = name in _FETCH_ATTRS or (name in ("href", "xlink:href") and tag in _FETCH_HREF_TAGS)
            if not fetches or not value:
                continue
            candidates = [c.split()[0] for c in value.split(",") if c.strip()] if name == "srcset" else [value]
            urls.extend(u for u in (c.strip(_URL_JUNK) for c in candidates) if _REMOTE.match(u))
    return urls


def _elements(html: str) -> Iterator[LexborNode]:
    """The elements of ``html``, at most ``MAX_COUNTED_ELEMENTS``, parsed ``COUNT_PIECE_TAGS`` tags at a time."""
    seen = 0
    for piece in _pieces(html):
        root = LexborHTMLParser(piece).root
        for element in root.traverse() if root is not None else ():
            seen += 1
            if seen > MAX_COUNTED_ELEMENTS:
                return
            yield element


def _pieces(html: str) -> Iterator[str]:
    """``html`` cut before every ``COUNT_PIECE_TAGS``-th tag (not inside a comment)."""
    start = position = tags = 0
    while (found := _MARKUP.search(html, position)) is not None:
        if found.group() == "<!--":
            close = html.find("-->", found.end())
            if close < 0:
                break
            position = close + 3
            continue
        tags += 1
        if tags > COUNT_PIECE_TAGS:
            yield html[start : found.start()]
            start, tags = found.start(), 1
        position = found.end()
    yield html[start:]


def _host(url: str) -> str | None:
    """The lower-cased host of a remote URL, or None when it has none."""
    try:
        return urlsplit(url.replace("\\", "/")).hostname
    except ValueError:
        return None
