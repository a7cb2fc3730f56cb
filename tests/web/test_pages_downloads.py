"""What a message page serves besides itself: the sanitized HTML body for its iframe, ``cid:`` images, attachment
downloads with safe names, and the raw ``.eml`` for role ``all``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from html import escape as html_escape
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

import web.message_pages
from store import AttachmentWrite, LinkWrite, MessageWrite, PlanWrite, Store
from store import safehtml as store_safehtml
from store.safehtml import CSP_FOR_EMAIL_FRAME, IFRAME_SANDBOX, sanitize_email_html
from tests.store.world import ADA, ANNA, LOGO, PAWEL, PDF, World, blob, day, person
from tests.web.pages_support import OWN_SCRIPT
from web.downloads import ascii_filename, attachment_filename, content_disposition, safe_filename
from web.headers import MESSAGE_PAGE_CSP

ClientFor = Callable[[str | None], TestClient]
HTML_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "html"
HOSTILE = sorted((HTML_FIXTURES / "hostile").glob("*.html"))
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def file_html(
    store: Store, world: World, key: str, html: str | None, attachments: tuple[AttachmentWrite, ...] = ()
) -> int:
    """File an email Anna sent (team PL sees it, Paweł does not) with this HTML body; returns its id."""
    anna = world.users[ANNA.email]
    receipt = store.receipts.add_inbound(key.encode(), mail_from=ANNA.email, rcpt_tos=["assistant@crm.example.com"]).id
    message = MessageWrite(
        dedupe_key=key,
        message_id_header=key,
        subject=f"HTML {key}",
        date=day(10),
        from_name=ANNA.name,
        from_address=ANNA.email,
        direction="outgoing",
        kind="bcc",
        submitter_user_id=anna,
        body_text="the text version",
        body_html=html,
        note=None,
        raw_sha256=hashlib.sha256(key.encode()).hexdigest(),
        participants=(person("from", ANNA.email, ANNA.name),),
        links=(LinkWrite("user", "submitter", entity_id=anna),),
        attachments=attachments,
    )
    result = store.filing.apply_plan(receipt, PlanWrite(status="linked", reason="test", message=message))
    assert result.message_id is not None
    return result.message_id


# --- the HTML body ---------------------------------------------------------------------------------------------


def test_hostile_html_is_served_inert_under_the_frame_csp(store: Store, world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    for path in HOSTILE:
        # The linker replaces NUL in text before storing it (PostgreSQL refuses it), so the store never holds one.
        html = path.read_text().replace("\x00", "\ufffd")
        message_id = file_html(store, world, f"<{path.stem}@hostile>", html)

        response = ada.get(f"/messages/{message_id}/html")

        assert response.status_code == 200, path.name
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["content-security-policy"] == CSP_FOR_EMAIL_FRAME
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert response.headers["x-content-type-options"] == "nosniff"
        body = response.text.lower()
        assert "<script" not in body, path.name
        assert "javascript:" not in body, path.name
        assert not re.search(r"<[^>]+\son\w+\s*=", body), path.name  # no event handler attributes


def test_message_page_frames_the_body_and_counts_blocked_resources(
    store: Store, world: World, client_for: ClientFor
) -> None:
    html = (HTML_FIXTURES / "hostile" / "tracking_pixels_many.html").read_text()
    blocked = sanitize_email_html(html, cid_url=lambda cid: None).blocked
    assert blocked > 1
    message_id = file_html(store, world, "<pixels@news>", html)

    page = client_for(ANNA.email).get(f"/messages/{message_id}")

    assert page.status_code == 200
    assert page.headers["content-security-policy"] == MESSAGE_PAGE_CSP
    assert page.headers["x-frame-options"] == "DENY"  # the page itself is never framed
    iframe = f'sandbox="{IFRAME_SANDBOX}" src="/messages/{message_id}/html"></iframe>'
    assert iframe in page.text
    assert IFRAME_SANDBOX == "allow-popups allow-popups-to-escape-sandbox"
    assert f"{blocked} remote resources blocked" in page.text
    assert "<script" not in page.text.lower().replace(OWN_SCRIPT, "")
    assert "the text version" in page.text  # the text body, beside the frame


def test_a_message_without_html_has_no_frame_and_no_html_route(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    assert "<iframe" not in ada.get(f"/messages/{world.m['deal']}").text
    assert ada.get(f"/messages/{world.m['deal']}/html").status_code == 404


def test_html_and_images_of_an_invisible_message_are_404(store: Store, world: World, client_for: ClientFor) -> None:
    message_id = file_html(
        store,
        world,
        "<secret@crm>",
        '<p>secret <img src="cid:logo@x"></p>',
        (blob(LOGO, None, "image/png", "<logo@x>"),),
    )
    pawel, anna = client_for(PAWEL.email), client_for(ANNA.email)
    assert anna.get(f"/messages/{message_id}/html").status_code == 200
    assert anna.get(f"/messages/{message_id}/cid/logo@x").status_code == 200
    assert pawel.get(f"/messages/{message_id}/html").status_code == 404
    assert pawel.get(f"/messages/{message_id}/cid/logo@x").status_code == 404


# --- cid: images ----------------------------------------------------------------------------------------------------


def test_cid_images_come_from_the_attachments(store: Store, world: World, client_for: ClientFor) -> None:
    html = (
        '<p><img src="cid:logo@acme"> <img src="cid:part1.4F%40acme"> <img src="cid:doc@acme">'
        ' <img src="cid:vector@acme"> <img src="cid:missing@acme"></p>'
    )
    attachments = (
        blob(LOGO, None, "image/png", "<logo@acme>"),
        blob(b"GIF89a", "p.gif", "Image/GIF; name=p.gif", "<part1.4F@acme>"),
        blob(b"<script>alert(1)</script>", "doc.html", "text/html", "<doc@acme>"),
        blob(SVG, "v.svg", "image/svg+xml", "<vector@acme>"),
    )
    message_id = file_html(store, world, "<cid@crm>", html, attachments)
    anna = client_for(ANNA.email)
    base = f"/messages/{message_id}/cid"

    document = anna.get(f"/messages/{message_id}/html").text
    logo, gif, doc, svg = (
        anna.get(f"{base}/{cid}") for cid in ("logo@acme", "part1.4F@acme", "doc@acme", "vector@acme")
    )

    # In the sandboxed frame (an opaque origin: no cookies), raster images are data: URLs; the rest point here.
    assert f'src="data:image/png;base64,{base64.b64encode(LOGO).decode()}"' in document
    assert f'src="data:image/gif;base64,{base64.b64encode(b"GIF89a").decode()}"' in document
    assert f'src="{base}/doc@acme"' in document and f'src="{base}/vector@acme"' in document
    assert "missing@acme" not in document  # no attachment: the image is dropped, not pointed anywhere
    assert (logo.status_code, logo.headers["content-type"], logo.content) == (200, "image/png", LOGO)
    assert "content-disposition" not in logo.headers
    assert gif.headers["content-type"] == "image/gif"
    for download in (doc, svg):  # not a raster image: never rendered inline
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-disposition"].startswith("attachment; ")
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in (logo, gif, doc, svg))
    assert anna.get(f"{base}/missing@acme").status_code == 404
    assert anna.get(f"/messages/{world.m['to_piotr']}/cid/doc@acme").status_code == 404  # another message's


def test_large_cid_images_are_not_inlined(
    store: Store, world: World, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web.message_pages, "MAX_INLINE_IMAGE", len(LOGO) - 1)
    message_id = file_html(
        store, world, "<big@crm>", '<img src="cid:logo@acme">', (blob(LOGO, None, "image/png", "<logo@acme>"),)
    )
    document = client_for(ANNA.email).get(f"/messages/{message_id}/html").text
    assert f'src="/messages/{message_id}/cid/logo@acme"' in document


def test_bodies_are_sanitized_when_filed_and_never_on_a_page_view(
    store: Store, world: World, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = '<p>Offer <script>alert(1)</script><img src="cid:logo@acme"><img src="https://t.example/p.gif"></p>'
    message_id = file_html(store, world, "<once@crm>", html, (blob(LOGO, None, "image/png", "<logo@acme>"),))
    with store.engine.connect() as conn:
        kept, blocked, hosts = conn.execute(
            text("SELECT body_html_safe, html_blocked, html_blocked_hosts FROM messages WHERE id = :id"),
            {"id": message_id},
        ).one()
    assert "<script" not in kept and 'src="cid:logo@acme"' in kept and "t.example" not in kept
    assert (blocked, json.loads(hosts) if isinstance(hosts, str) else hosts) == (1, ["t.example"])

    def no_sanitizing(*args: object, **kwargs: object) -> object:
        raise AssertionError("sanitized on a page view")

    monkeypatch.setattr(store_safehtml, "sanitize_email_html", no_sanitizing)
    monkeypatch.setattr(web.message_pages, "sanitize_for_storage", no_sanitizing)
    anna = client_for(ANNA.email)

    page, frame = anna.get(f"/messages/{message_id}"), anna.get(f"/messages/{message_id}/html")

    assert page.status_code == frame.status_code == 200
    assert "1 remote resource blocked (t.example)" in page.text
    assert "<p>Offer <img " in frame.text and "<script" not in frame.text
    assert f'src="data:image/png;base64,{base64.b64encode(LOGO).decode()}"' in frame.text


def test_a_message_filed_before_bodies_were_kept_sanitized_is_sanitized_on_view(
    store: Store, world: World, client_for: ClientFor
) -> None:
    html = '<p>Old <script>alert(1)</script><img src="cid:logo@acme"><img src="https://t.example/p.gif"></p>'
    message_id = file_html(store, world, "<old@crm>", html, (blob(LOGO, None, "image/png", "<logo@acme>"),))
    with store.engine.begin() as conn:  # as revision 0010 leaves the messages filed before it
        conn.execute(
            text(
                "UPDATE messages SET body_html_safe = NULL, html_blocked = NULL, html_blocked_hosts = NULL"
                " WHERE id = :id"
            ),
            {"id": message_id},
        )
    anna = client_for(ANNA.email)

    page, frame = anna.get(f"/messages/{message_id}"), anna.get(f"/messages/{message_id}/html")

    assert "1 remote resource blocked (t.example)" in page.text
    assert "<p>Old <img " in frame.text and "<script" not in frame.text
    assert f'src="data:image/png;base64,{base64.b64encode(LOGO).decode()}"' in frame.text


# --- attachments ------------------------------------------------------------------------------------------------


def test_attachments_download_with_safe_names(store: Store, world: World, client_for: ClientFor) -> None:
    attachments = (
        blob(b"root:x:0:0", '../../etc/passwd"\r\n.txt', "text/plain"),
        blob(PDF, "Oferta łódź.pdf", "application/pdf"),
        blob(b"<html><script>alert(1)</script>", "page.html", "text/html"),
        blob(LOGO, None, "image/png"),
    )
    message_id = file_html(store, world, "<files@crm>", None, attachments)
    anna = client_for(ANNA.email)
    page = anna.get(f"/messages/{message_id}").text
    ids = [int(i) for i in re.findall(rf'href="/messages/{message_id}/attachments/(\d+)"', page)]
    assert len(ids) == 4

    passwd, offer, html, logo = (anna.get(f"/messages/{message_id}/attachments/{i}") for i in ids)

    assert passwd.headers["content-disposition"] == "attachment; filename=\"passwd.txt\"; filename*=UTF-8''passwd.txt"
    assert passwd.content == b"root:x:0:0"
    assert offer.headers["content-disposition"] == (
        "attachment; filename=\"Oferta _odz.pdf\"; filename*=UTF-8''Oferta%20%C5%82%C3%B3d%C5%BA.pdf"
    )
    assert offer.content == PDF
    assert html.headers["content-disposition"].startswith('attachment; filename="page.html"')
    assert logo.headers["content-disposition"].startswith(f'attachment; filename="attachment-{ids[3]}.png"')
    for response in (passwd, offer, html, logo):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert ">passwd.txt</a>" in page and ">Oferta łódź.pdf</a>" in page
    # Through another message, or a message Paweł may not see: not found.
    assert anna.get(f"/messages/{world.m['to_piotr']}/attachments/{ids[0]}").status_code == 404
    assert client_for(PAWEL.email).get(f"/messages/{message_id}/attachments/{ids[0]}").status_code == 404


def test_safe_filename_strips_paths_controls_quotes_and_spoofing() -> None:
    assert safe_filename('../../etc/passwd"\r\n.txt', "x") == "passwd.txt"
    assert safe_filename("C:\\Users\\me\\report.doc", "x") == "report.doc"
    assert safe_filename("invoice\u202egpj.exe", "x") == "invoicegpj.exe"  # no right-to-left override
    assert safe_filename("a\u00a0b\tc.txt", "x") == "a bc.txt"  # no-break space kept as a space, tab gone
    assert safe_filename("..", "fallback.bin") == "fallback.bin"
    assert safe_filename("", "fallback.bin") == "fallback.bin"
    assert safe_filename(".bashrc", "x") == "bashrc"
    long = safe_filename("a" * 400 + ".pdf", "x")
    assert len(long) <= 150 and long.endswith(".pdf")
    assert ascii_filename("Přeposlat ř.pdf") == "Preposlat r.pdf"
    assert ascii_filename("日本.pdf") == "__.pdf"
    assert attachment_filename(None, "application/pdf", 7) == "attachment-7.pdf"
    assert attachment_filename(None, "x-unknown/thing", 7) == "attachment-7.bin"
    assert content_disposition("a b;c.txt") == "attachment; filename=\"a b_c.txt\"; filename*=UTF-8''a%20b%3Bc.txt"


# --- the raw source ---------------------------------------------------------------------------------------------


def test_raw_eml_is_for_role_all_only(world: World, client_for: ClientFor) -> None:
    message_id = world.m["to_piotr"]
    ada, anna = client_for(ADA.email), client_for(ANNA.email)

    raw = ada.get(f"/messages/{message_id}/raw.eml")

    assert raw.status_code == 200
    assert raw.content == b"<1@crm>"  # what build_world received for this email
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.headers["content-disposition"].startswith(f'attachment; filename="message-{message_id}.eml"')
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert "Download raw .eml" in ada.get(f"/messages/{message_id}").text
    # Anna sees the message, but not its raw source.
    assert anna.get(f"/messages/{message_id}").status_code == 200
    assert "raw.eml" not in anna.get(f"/messages/{message_id}").text
    assert anna.get(f"/messages/{message_id}/raw.eml").status_code == 404
    assert ada.get("/messages/999999/raw.eml").status_code == 404


def test_a_huge_text_body_is_cut_on_the_page_and_whole_in_the_api(
    store: Store, world: World, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web.message_pages, "MAX_SHOWN_TEXT", 1000)
    message_id = file_html(store, world, "<long@crm>", None)
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE messages SET body_text = :t WHERE id = :id"), {"t": "Oferta. " * 500, "id": message_id}
        )
    anna = client_for(ANNA.email)

    page = anna.get(f"/messages/{message_id}").text
    api = anna.get(f"/api/messages/{message_id}").json()

    assert page.count("Oferta.") == 125  # 1,000 characters
    assert "The text goes on for 3,000 more characters" in page
    assert api["body_text"] == "Oferta. " * 500


def test_a_forward_chain_is_kept_when_filed_and_shown_on_the_message_page(
    store: Store, world: World, client_for: ClientFor
) -> None:
    from linker.explain import chain_level_json
    from linker.tasks import outcome_of
    from tests.linker.forwards.test_chains import CHAINS, planned

    # Given Anna's FW: FW: of a client's complaint, planned by the real pipeline
    plan = planned("outlook_fw_fw_en.eml")
    assert plan.original is not None and len(plan.original.chain) >= 2
    raw = (CHAINS / "outlook_fw_fw_en.eml").read_bytes()
    inbound = store.receipts.get_inbound(
        store.receipts.add_inbound(raw, mail_from=ANNA.email, rcpt_tos=["assistant@crm.example.com"]).id
    )
    assert inbound is not None
    # When the worker's translation files it (as Anna of this world: the store's ids, not the test directory's)
    outcome = outcome_of(plan, inbound)
    assert outcome.write is not None and outcome.write.message is not None
    message = outcome.write.message
    assert message.chain == tuple(chain_level_json(level) for level in plan.original.chain)
    anna = world.users[ANNA.email]
    message = dataclasses.replace(message, submitter_user_id=anna, participants=(), links=(), new_leads=(), codes=())
    result = store.filing.apply_plan(inbound.id, PlanWrite(status="linked", reason="test", message=message))
    assert result.message_id is not None

    # Then the store keeps every level, and the message page shows them in order
    detail = store.queries.get_message(world.viewer(store, ADA.email), result.message_id)
    assert detail is not None and detail.chain == message.chain
    page = client_for(ADA.email).get(f"/messages/{result.message_id}").text
    assert "Forward chain" in page
    subjects = [level["subject"] for level in message.chain if level["subject"]]
    positions = [page.index(html_escape(subject)) for subject in subjects]
    assert positions == sorted(positions)
