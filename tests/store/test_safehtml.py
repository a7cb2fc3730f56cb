"""store/safehtml.py: hostile HTML comes out inert, real mail keeps its text and tables, remote content is blocked."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from store.safehtml import (
    ALLOWED_TAGS,
    CSP_FOR_EMAIL_FRAME,
    CSP_FOR_EMAIL_FRAME_REMOTE,
    IFRAME_SANDBOX,
    SanitizedHtml,
    sanitize_email_html,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "html"
HOSTILE = sorted((FIXTURES / "hostile").glob("*.html"))
# Tags no sanitized body may contain, whatever the allowlist says.
FORBIDDEN_TAGS = (
    "script", "svg", "math", "form", "meta", "base", "iframe", "frame", "object", "embed", "applet", "link",
    "input", "button", "textarea", "select", "video", "audio", "source", "template", "noscript", "xmp", "title",
)  # fmt: skip
WRAPPER_TAGS = {"html", "head", "style", "body"}
INLINE_TAGS = {"a", "b", "i", "u", "em", "strong", "span", "font", "small", "big", "sub", "sup", "code"}
REMOTE = re.compile(r"(?:https?:)?[/\\]{2}", re.IGNORECASE)
CIDS = {
    "logo@acme.example": "/messages/7/cid/logo",
    "part1.4F3A2B1C.0D9E8F7A@acme.example": "/messages/7/cid/part1",
    "bg@acme.example": "/messages/7/cid/bg",
    "image001.png@01DA1B2C.3D4E5F60": "/messages/7/cid/image001",
}
# (blocked, blocked_hosts) with allow_remote=False, for the files about remote resources and a few controls.
EXPECTED_BLOCKED = {
    "tracking_pixel": (1, ("t.example",)),
    "tracking_pixels_many": (
        9,
        (
            "open.tracker.example",
            "proto.tracker.example",
            "spaces.tracker.example",
            "cdn.example",
            "bg.example",
            "css.tracker.example",
        ),
    ),
    "srcset_background": (4, ("img.example", "bg.example")),
    "link_stylesheet": (4, ("css.example", "imports.example", "prefetch.example")),
    "media_elements": (6, ("media.example",)),
    "css_import": (2, ("css.example",)),
    "style_breakout": (1, ("style.example",)),
    "iframe_src": (2, ("frame.example",)),
    "object_embed": (3, ("plugin.example",)),
    "form_actions": (1, ("formimg.example",)),
    "script_tags": (2, ("xss.example",)),
    "svg_script": (1, ("svgimg.example",)),
    "control_chars": (1, ("ctl.example",)),
    "javascript_urls": (0, ()),
    "event_handlers": (0, ()),
    "base_href": (0, ()),
}


class Elements(HTMLParser):
    """Every start tag of a document with its decoded attributes, and its text, as a browser would see them."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        if tag not in INLINE_TAGS:
            self.text.append(" ")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def plain_text(self) -> str:
        return " ".join("".join(self.text).split())


def no_cids(content_id: str) -> str | None:
    return None


def sanitize(name: str, *, allow_remote: bool = False) -> SanitizedHtml:
    return sanitize_email_html((FIXTURES / name).read_text(), cid_url=CIDS.get, allow_remote=allow_remote)


def body(result: SanitizedHtml) -> str:
    return result.html.split("<body>", 1)[1].removesuffix("</body></html>")


def test_the_hostile_corpus_is_large() -> None:
    assert len(HOSTILE) >= 25


@pytest.mark.parametrize("allow_remote", [False, True], ids=["blocked", "remote"])
@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.stem)
def test_hostile_html_comes_out_inert(path: Path, allow_remote: bool) -> None:
    result = sanitize_email_html(path.read_text(), cid_url=no_cids, allow_remote=allow_remote)
    lowered = result.html.lower()

    for tag in FORBIDDEN_TAGS:
        assert f"<{tag}" not in lowered, tag
    assert lowered.count("<style") == 1  # the frame's own stylesheet
    assert "javascript:" not in lowered
    assert "vbscript:" not in lowered
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", lowered)
    for tag, attrs in Elements(result.html).tags:
        assert tag in ALLOWED_TAGS | WRAPPER_TAGS, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert not re.search(r"(java|vb)script:|expression|behavior|-moz-binding|@import", value, re.I), value
            if name in ("src", "background"):
                assert value.startswith("data:image/") or REMOTE.match(value), value
            if name == "href":
                assert re.match(r"(https?://|mailto:|tel:)", value), value


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.stem)
def test_hostile_html_loads_nothing_remote_by_default(path: Path) -> None:
    result = sanitize_email_html(path.read_text(), cid_url=no_cids)

    assert "url(" not in result.html.lower()
    for tag, attrs in Elements(result.html).tags:
        for name, value in attrs.items():
            if (tag, name) != ("a", "href"):
                assert not REMOTE.search(value), (tag, name, value)


@pytest.mark.parametrize("stem", sorted(EXPECTED_BLOCKED))
def test_blocked_remote_resources_are_counted(stem: str) -> None:
    result = sanitize_email_html((FIXTURES / "hostile" / f"{stem}.html").read_text(), cid_url=no_cids)
    assert (result.blocked, result.blocked_hosts) == EXPECTED_BLOCKED[stem]


def test_a_tracking_pixel_is_removed_but_keeps_its_size() -> None:
    result = sanitize("hostile/tracking_pixel.html")
    assert result.blocked == 1
    assert result.blocked_hosts == ("t.example",)
    [pixel] = Elements(result.html).named("img")
    assert pixel == {"width": "1", "height": "1"}


def test_allow_remote_keeps_remote_images() -> None:
    result = sanitize("hostile/tracking_pixels_many.html", allow_remote=True)
    srcs = [attrs.get("src") for attrs in Elements(result.html).named("img")]

    assert result.blocked == 0
    assert result.blocked_hosts == ()
    assert "https://t.example/p.gif" in body(sanitize("hostile/tracking_pixel.html", allow_remote=True))
    assert srcs[:4] == [
        "http://open.tracker.example/o.gif?id=1",
        "HTTPS://Open.Tracker.Example/o2.gif",
        "//proto.tracker.example/p.gif",
        "https://spaces.tracker.example/s.gif",
    ]
    assert 'srcset="https://cdn.example/a.png 1x, https://cdn.example/a@2x.png 2x"' in result.html
    assert 'background="https://bg.example/table.png"' in result.html
    assert "url(&quot;https://css.tracker.example/bg.png&quot;)" in result.html


def test_allow_remote_still_drops_stylesheets_and_media() -> None:
    result = sanitize("newsletter_remote_images.html", allow_remote=True)
    # Given remote images allowed, the font stylesheet, the @import and the <style> background stay blocked.
    assert result.blocked == 3
    assert result.blocked_hosts == ("fonts.googleapis.com", "cdn.acme-mail.example")
    assert len([a for a in Elements(result.html).named("img") if a.get("src", "").startswith("https://")]) == 5


def test_outlook_mail_keeps_its_text_and_table() -> None:
    result = sanitize("outlook_mso_tables.html")
    page = Elements(result.html)
    text = Elements(body(result)).plain_text()

    assert result.blocked == 0
    for phrase in (
        "Hallo Herr Becker,",
        "Auftrag ACME-2024-0173:",
        "Wartungsvertrag Anlage Nord 4.800,00 EUR",
        "Ersatzteilpaket B 1.250,00 EUR",
        "Auch ausserhalb von Outlook sichtbar.",
        "Mit freundlichen Grüßen Julia Hartmann",
        "Betreff: Anfrage Wartung",
    ):
        assert phrase in text
    assert "Nur in Outlook sichtbar" not in text  # an [if mso] comment
    assert "Font Definitions" not in text and "MsoNormal" not in result.html
    assert (len(page.named("table")), len(page.named("tr")), len(page.named("td"))) == (1, 3, 6)
    assert page.named("table")[0] == {
        "border": "1",
        "cellspacing": "0",
        "cellpadding": "0",
        "style": "border-collapse:collapse;border:none",
    }
    assert {"align": "right", "style": "text-align:right"} in page.named("p")
    assert page.named("img")[0]["src"] == "/messages/7/cid/image001"
    assert [a.get("href") for a in page.named("a")] == [
        "tel:+4930123456",
        "mailto:t.becker@kunde.example",
        "mailto:j.hartmann@acme.example",
    ]


def test_gmail_mail_keeps_inline_styles_and_quote() -> None:
    result = sanitize("gmail_inline_styles.html")
    page = Elements(result.html)
    text = Elements(body(result)).plain_text()

    assert "Plan Per seat Team $29 Business $49" in text
    assert "could you send over pricing for three seats?" in text
    assert (len(page.named("table")), len(page.named("tr")), len(page.named("col"))) == (1, 3, 2)
    assert "background-color:rgb(217, 234, 211)" in page.named("td")[0]["style"]
    assert page.named("blockquote")[0]["style"].startswith("margin:0px 0px 0px 0.8ex;border-left:1px solid")
    # The signature image is remote: blocked, counted, its box kept.
    assert result.blocked == 1
    assert result.blocked_hosts == ("ci3.googleusercontent.com",)
    assert {"width": "96", "height": "32"} in page.named("img")


def test_newsletter_blocks_every_remote_resource() -> None:
    result = sanitize("newsletter_remote_images.html")
    page = Elements(result.html)
    text = Elements(body(result)).plain_text()

    # Given 5 images (one with a srcset), a td background, a stylesheet, an @import and a url() in <style>.
    assert result.blocked == 10
    assert result.blocked_hosts == ("cdn.acme-mail.example", "acme.us1.list-manage.example", "fonts.googleapis.com")
    assert all("src" not in img and "srcset" not in img for img in page.named("img"))
    assert "Dashboards, rebuilt" in text and "SUMMER24" in text and "Unsubscribe" in text
    assert "June product news from Acme" not in text  # <title> content is not body text
    assert len(page.named("table")) == 3
    [hero] = [td for td in page.named("td") if td.get("bgcolor") == "#1a73e8"]
    assert "background" not in hero and hero["style"].startswith("padding:40px 30px;color:#ffffff")


def test_cid_images_point_at_the_attachments() -> None:
    seen: list[str] = []

    def cid_url(content_id: str) -> str | None:
        seen.append(content_id)
        return CIDS.get(content_id)

    result = sanitize_email_html((FIXTURES / "cid_logo.html").read_text(), cid_url=cid_url)
    page = Elements(result.html)

    assert seen == [
        "logo@acme.example",
        "part1.4F3A2B1C.0D9E8F7A@acme.example",  # percent-decoded, as RFC 2392 says
        "missing@acme.example",
        "bg@acme.example",
    ]
    assert [img.get("src") for img in page.named("img")] == ["/messages/7/cid/logo", "/messages/7/cid/part1", None]
    assert page.named("img")[2] == {"alt": "Gone"}  # unknown cid: dropped, not counted as blocked
    assert page.named("table")[0] == {"background": "/messages/7/cid/bg"}
    assert result.blocked == 0
    assert "PO-88231" in page.plain_text()


def test_links_open_outside_the_frame_without_referrer() -> None:
    result = sanitize("hostile/link_targets.html")
    links = Elements(result.html).named("a")

    assert all(a["target"] == "_blank" and a["rel"] == "noopener noreferrer nofollow" for a in links)
    assert [a.get("href") for a in links] == [
        "https://ok.example/page",
        "https://ok.example/ping",
        "https://proto.example/x",  # protocol-relative, pinned to https
        "mailto:sales@acme.example",
        None,  # http:\\evil.example
        None,  # relative
        None,  # fragment
        "tel:+4930123456",
    ]
    assert "ping=" not in result.html


def test_inline_css_is_filtered_by_property_and_content() -> None:
    html = (
        '<p style="COLOR:Red; position:fixed; z-index:9; width:expression(alert(1)); '
        "background:u\\72l(https://x.example/a.png); font-weight:bold; margin:/**/0; "
        "background-image:image-set('https://x.example/b.png' 1x)\">x</p>"
    )
    result = sanitize_email_html(html, cid_url=no_cids)
    assert Elements(result.html).named("p") == [{"style": "color:Red;font-weight:bold"}]


def test_data_urls_are_kept_only_for_raster_images() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    html = (
        f'<img src="{png}"><img src="data:image/svg+xml;base64,PHN2Zz4="><img src="data:text/html,x">'
        '<a href="data:text/html,x">d</a>'
    )
    result = sanitize_email_html(html, cid_url=no_cids)
    page = Elements(result.html)
    assert [img.get("src") for img in page.named("img")] == [png, None, None]
    assert "href" not in page.named("a")[0]


def test_the_result_is_a_complete_frozen_document() -> None:
    result = sanitize_email_html("<p>Hi</p>", cid_url=no_cids)
    assert result.html.startswith("<!doctype html><html><head><style>")
    assert body(result) == "<p>Hi</p>"
    assert (result.blocked, result.blocked_hosts) == (0, ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.blocked = 1  # type: ignore[misc]


def test_the_frame_sandbox_never_allows_scripts() -> None:
    tokens = IFRAME_SANDBOX.split()
    assert "allow-scripts" not in tokens and "allow-same-origin" not in tokens
    assert "allow-forms" not in tokens and "allow-top-navigation" not in tokens
    assert {"allow-popups", "allow-popups-to-escape-sandbox"} <= set(tokens)


def test_the_frame_csp_allows_no_script_and_no_remote_images_by_default() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP_FOR_EMAIL_FRAME.split(";"))
    assert directives["default-src"] == "'none'"
    assert "script-src" not in directives  # falls back to 'none'
    assert directives["img-src"] == "'self' data:"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    assert directives["sandbox"] == IFRAME_SANDBOX
    remote = dict(d.strip().split(" ", 1) for d in CSP_FOR_EMAIL_FRAME_REMOTE.split(";"))
    assert remote["img-src"] == "'self' data: https: http:"
    assert {k: v for k, v in remote.items() if k != "img-src"} == {
        k: v for k, v in directives.items() if k != "img-src"
    }


# ---- kept when filed ----------------------------------------------------------------------------------------------


def test_a_kept_body_holds_cid_urls_of_its_own_attachments_only() -> None:
    from store.safehtml import resolve_cids, sanitize_for_storage

    html = '<p>Logo <img src="cid:logo@acme"> <img src="cid:part1.4F%40acme"> <img src="cid:foreign@evil"></p>'

    kept = sanitize_for_storage(html, ["<logo@acme>", "<part1.4F@acme>", None]).html

    assert 'src="cid:logo@acme"' in kept and 'src="cid:part1.4F@acme"' in kept
    assert "foreign@evil" not in kept
    served = resolve_cids(kept, {"logo@acme": "data:image/png;base64,AAAA"}.get)
    assert 'src="data:image/png;base64,AAAA"' in served
    assert "part1.4F" not in served  # no URL for it when served: the attribute goes, not pointed anywhere


def test_resolving_cids_rewrites_attributes_never_text() -> None:
    from store.safehtml import resolve_cids, sanitize_for_storage

    html = '<p>write src="cid:logo@acme" in your template</p><img alt=\' src="cid:logo@acme"\' src="cid:logo@acme">'

    served = resolve_cids(sanitize_for_storage(html, ["<logo@acme>"]).html, lambda cid: "/x?a=1&b=<2>")

    assert served.count('src="/x?a=1&amp;b=&lt;2&gt;"') == 1
    assert '<p>write src="cid:logo@acme" in your template</p>' in served  # text keeps its quotes, untouched
