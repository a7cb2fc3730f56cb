"""The viewer's HTML pages: every page renders for role all, and ids a role may not see read as missing.

The data is ``build_world`` (``tests/store/world.py``); ``VISIBLE`` there says who sees which email.
"""

from __future__ import annotations

import re

from store import MessageFilter, Store
from tests.store.world import ADA, ANNA, EVA, JAN, PAWEL, SOLO, VISIBLE, World
from tests.web.pages_support import ClientFor, assert_page, listed_ids
from web.headers import DEFAULT_CSP, MESSAGE_PAGE_CSP
from web.params import MAX_ID


def test_every_page_renders_for_role_all(store: Store, world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    pages = [
        "/",
        "/messages",
        *(f"/messages/{i}" for i in world.m.values()),
        f"/clients/{world.acme}",
        f"/clients/{world.beta}",
        f"/contacts/{world.piotr}",
        f"/contacts/{world.wolf}",
        f"/leads/{world.lead}",
        f"/records/{world.deal}",
        "/leads",
        "/inbound",
    ]
    for path in pages:
        response = ada.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert_page(response.text)
        assert 'href="/static/style.css"' in response.text
        assert "Ada Admin" in response.text  # the header with the logout form


def test_anonymous_requests_go_to_the_login(client_for: ClientFor, world: World) -> None:
    response = client_for(None).get(f"/messages/{world.m['deal']}?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=%2Fmessages%2F{world.m['deal']}%3Fx%3D1"


def test_the_dashboard_is_at_the_root(world: World, client_for: ClientFor) -> None:
    ada, anna = client_for(ADA.email).get("/"), client_for(ANNA.email).get("/")

    assert "Dashboard" in ada.text and "Messages filed, by kind" in ada.text
    assert "Ingest log by status" in ada.text and "Recent failures" in ada.text
    assert 'href="/inbound"' in ada.text
    assert "Ingest log by status" not in anna.text and "Recent failures" not in anna.text
    assert 'href="/inbound"' not in anna.text  # no nav link to a page that is not there for her


def test_message_page_shows_headers_participants_links_codes_and_receipts(world: World, client_for: ClientFor) -> None:
    page = client_for(JAN.email).get(f"/messages/{world.m['beta']}")

    assert page.status_code == 200
    text = page.text
    assert "Fwd: OP-200 XX-9 sklad" in text
    assert "&lt;4@beta&gt;" in text  # the Message-ID
    assert "forward" in text and "incoming" in text
    assert f'href="/records/{world.warehouse}"><code>OP-200</code>' in text
    assert '<code class="unresolved">XX-9</code> <span class="tag unresolved">unresolved</span>' in text
    assert f'href="/contacts/{world.karel}"' in text and f'href="/clients/{world.beta}"' in text
    assert "by code" in text and "by address" in text
    assert "karel@<wbr>beta<wbr>.cz" in text  # breakable after the @ and before dots only
    assert "submitted by jan@crm.example.com" in text  # the receipt's note
    assert "Download raw .eml" not in text  # Jan is role own


def test_message_page_with_text_body_and_attachments(world: World, client_for: ClientFor) -> None:
    text = client_for(ANNA.email).get(f"/messages/{world.m['to_piotr']}").text
    assert '<pre class="body">Dzień dobry Panie Wiśniewski, w załączniku oferta.</pre>' in text
    assert re.search(rf'href="/messages/{world.m["to_piotr"]}/attachments/\d+" download>offer.pdf</a>', text)
    assert "<iframe" not in text  # no HTML body


def test_message_page_csp_allows_only_our_own_frames() -> None:
    assert MESSAGE_PAGE_CSP == DEFAULT_CSP + "; frame-src 'self'"


def test_guessed_message_ids_are_404_unless_visible(store: Store, world: World, client_for: ClientFor) -> None:
    guesses = range(1, max(world.m.values()) + 4)
    for email in (ANNA.email, PAWEL.email, JAN.email, EVA.email, SOLO.email):
        client = client_for(email)
        viewer = world.viewer(store, email)

        shown = {i for i in guesses if client.get(f"/messages/{i}").status_code == 200}
        hidden = {client.get(f"/messages/{i}").status_code for i in guesses if i not in shown}

        assert shown == {row.id for row in store.queries.iter_messages(viewer, MessageFilter())}, email
        assert shown == world.ids(*VISIBLE[email]), email
        assert hidden == {404}, email
        assert set(listed_ids(client.get("/messages").text)) == shown, email


def test_an_invisible_message_reads_exactly_like_a_missing_one(world: World, client_for: ClientFor) -> None:
    pawel = client_for(PAWEL.email)
    invisible = pawel.get(f"/messages/{world.m['to_piotr']}")
    missing = pawel.get("/messages/999999")

    assert invisible.status_code == missing.status_code == 404
    assert invisible.text == missing.text
    assert "Oferta" not in invisible.text
    for path in ("html", "raw.eml", "attachments/1", "cid/logo@acme"):
        assert pawel.get(f"/messages/{world.m['to_piotr']}/{path}").status_code == 404, path


def test_ids_too_large_for_the_database_are_404(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    for big in (MAX_ID + 1, 2**63, 10**30):
        for path in (f"/messages/{big}", f"/messages/{big}/html", f"/messages/1/attachments/{big}", f"/clients/{big}"):
            assert ada.get(path).status_code == 404, path


def test_ingest_log_is_404_for_everyone_but_role_all(world: World, client_for: ClientFor) -> None:
    for email in (ANNA.email, PAWEL.email, EVA.email):
        client = client_for(email)
        assert client.get("/inbound").status_code == 404
        assert client.get("/inbound?status=nonsense").status_code == 404  # its parameters are not even read
