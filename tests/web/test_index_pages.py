"""The directory indexes and the ingest log as pages: visibility of counts, the users index for admins only,
search and sort kept in links, keyset pages, 400s naming the parameter, receipts opened with their raw message."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable

from starlette.testclient import TestClient

from store import Store, Trust
from tests.store.world import ADA, ANNA, JAN, PAWEL, World
from tests.web.pages_support import assert_page

ClientFor = Callable[[str | None], TestClient]
INDEXES = ("/clients", "/contacts", "/leads", "/records")
_NEXT = re.compile(r'<a rel="next" href="([^"]+)">')


def test_every_index_renders_with_nav_links(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    for path in (*INDEXES, "/users"):
        for sort in ("", "?sort=count", "?sort=last", "?sort=name"):
            response = ada.get(path + sort)
            assert response.status_code == 200, path + sort
            assert_page(response.text)
            assert f'<a href="{path}" aria-current="page">' in response.text
    for link in (*INDEXES, "/users"):
        assert f'<a href="{link}"' in ada.get("/").text


def test_users_index_is_for_role_all_only(world: World, client_for: ClientFor) -> None:
    for email in (ANNA.email, PAWEL.email):
        viewer = client_for(email)
        assert viewer.get("/users").status_code == 404
        assert viewer.get("/users?sort=bogus").status_code == 404  # before its parameters are read
        assert '<a href="/users"' not in viewer.get("/clients").text
    assert PAWEL.name in client_for(ADA.email).get("/users").text


def test_counts_are_of_mail_the_viewer_may_see(world: World, client_for: ClientFor) -> None:
    def count(email: str, path: str, param: str, entity_id: int) -> str:
        text = client_for(email).get(path).text
        found = re.search(rf'href="/messages\?{param}={entity_id}">([\d,]+)</a>', text)
        return found.group(1) if found else "0"

    # Acme: Anna's mail to Piotr, Paweł's deal mail, Acme's own; Paweł sees only his
    assert count(ADA.email, "/clients", "client", world.acme) == "3"
    assert count(PAWEL.email, "/clients", "client", world.acme) == "1"
    assert count(JAN.email, "/clients", "client", world.acme) == "0"
    assert count(JAN.email, "/contacts", "contact", world.karel) == "2"
    assert count(PAWEL.email, "/contacts", "contact", world.karel) == "1"
    assert count(PAWEL.email, "/records", "record", world.deal) == "1"
    assert count(JAN.email, "/records", "record", world.deal) == "0"
    # The lead index: Paweł may not see the lead at all
    assert f'href="/leads/{world.lead}"' not in client_for(PAWEL.email).get("/leads").text
    assert count(JAN.email, "/leads", "lead", world.lead) == "1"


def test_dates_say_their_time_zone(world: World, client_for: ClientFor) -> None:
    text = client_for(ADA.email).get("/clients").text
    assert '2026-03-04 09:30 <span class="tz">UTC</span></time>' in text  # Acme's last contact


def test_search_and_sort_stay_in_the_page_links(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    text = ada.get("/clients?q=acme&sort=count").text
    assert f'href="/clients/{world.acme}"' in text and f'href="/clients/{world.beta}"' not in text
    assert 'value="acme"' in text and '<option value="count" selected>' in text
    assert 'href="/clients?q=acme&amp;sort=last"' in text  # the other sorts keep the search


def test_pages_follow_the_next_links(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    first = ada.get("/clients?sort=count&limit=1").text
    assert f'href="/clients/{world.acme}"' in first and f'href="/clients/{world.beta}"' not in first
    found = _NEXT.search(first)
    assert found is not None
    second = ada.get(html.unescape(found.group(1)))
    assert second.status_code == 200
    assert f'href="/clients/{world.beta}"' in second.text and f'href="/clients/{world.acme}"' not in second.text
    assert "limit=1" in found.group(1) and "sort=count" in found.group(1)
    assert _NEXT.search(second.text) is None


def test_bad_parameters_and_cursors_are_400_naming_them(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    cursor = _NEXT.search(ada.get("/clients?limit=1").text)
    assert cursor is not None
    name_cursor = html.unescape(cursor.group(1)).split("after=")[1]
    cases = {
        "/clients?sort=size": "sort: must be one of name, count, last",
        "/leads?sort=size": "sort: must be one of new, name, count, last",
        "/contacts?limit=0": "limit:",
        "/records?limit=201": "limit:",
        "/clients?after=garbage": "after: bad cursor",
        f"/clients?sort=count&after={name_cursor}": "after: bad cursor",  # a cursor of another sort
        f"/contacts?after={name_cursor}": "after: bad cursor",  # of another index
        "/users?q=" + "x" * 201: "q: at most 200 characters",
    }
    for path, message in cases.items():
        response = ada.get(path)
        assert response.status_code == 400, path
        assert message in response.text, path


# --- the ingest log and its receipts -------------------------------------------------------------------------------

IGNORED_RAW = (
    b"From: =?utf-8?q?Newsletter_=C5=BBabka?= <news@lists.example.org>\r\n"
    b"Subject: =?utf-8?q?Promocja_=C5=BCab?=\r\nList-Id: <news.example.org>\r\n\r\nbody\r\n"
)


def _ignored(store: Store) -> str:
    trust = Trust("anna@crm.example.com", "dkim", {"detail": "dkim pass d=crm.example.com", "checks": []})
    receipt = store.receipts.add_inbound(
        IGNORED_RAW, mail_from="news@lists.example.org", rcpt_tos=["assistant@crm.example.com"], trust=trust
    )
    assert store.receipts.mark_processed(receipt.id, "ignored", reason="List-Id header: a mailing list")
    return receipt.id


def test_ingest_log_rows_show_subject_sender_outcome_and_reason(
    store: Store, world: World, client_for: ClientFor
) -> None:
    ignored = _ignored(store)
    text = client_for(ADA.email).get("/inbound").text
    # A filed receipt links to its message, with the message's subject
    assert f'<a href="/messages/{world.m["deal"]}">OP-123 harmonogram</a>' in text
    # An ignored one: subject and sender decoded from its raw headers, its reason, a link to its receipt page
    assert "Promocja żab" in text and "Newsletter Żabka" in text
    assert "List-Id header: a mailing list" in text
    assert f'<a href="/inbound/{ignored}"><code>{ignored}</code></a>' in text


def test_ingest_log_filters_by_status_and_reason_kept_in_the_url(
    store: Store, world: World, client_for: ClientFor
) -> None:
    ignored = _ignored(store)
    ada = client_for(ADA.email)
    by_reason = ada.get("/inbound?reason=list-id").text
    assert ignored in by_reason and f'href="/messages/{world.m["deal"]}"' not in by_reason
    assert 'href="/inbound?status=ignored&amp;reason=list-id"' in by_reason  # the status tabs keep the reason
    assert ignored not in ada.get("/inbound?status=linked&reason=list-id").text
    assert ignored not in ada.get("/inbound?reason=submitted").text
    assert ada.get("/inbound?reason=" + "x" * 201).status_code == 400
    assert "status: must be one of" in ada.get("/inbound?status=lost").text


def test_a_receipt_page_shows_envelope_proof_hash_and_raw(store: Store, world: World, client_for: ClientFor) -> None:
    ignored = _ignored(store)
    ada = client_for(ADA.email)
    page = ada.get(f"/inbound/{ignored}")
    assert page.status_code == 200
    assert_page(page.text)
    sha = hashlib.sha256(IGNORED_RAW).hexdigest()
    assert f'<code class="hash">{sha}</code>' in page.text
    assert "List-Id header: a mailing list" in page.text and 'class="tag status-ignored">ignored' in page.text
    assert "news@<wbr>lists<wbr>.example<wbr>.org" in page.text  # MAIL FROM
    assert 'class="tag proof-dkim">dkim</span>' in page.text and "dkim pass d=crm.example.com" in page.text
    raw = ada.get(f"/inbound/{ignored}/raw.eml")
    assert raw.status_code == 200 and raw.content == IGNORED_RAW
    assert raw.headers["content-type"].startswith("message/rfc822")
    # Nobody else may open it, and an unknown receipt does not exist
    for path in (f"/inbound/{ignored}", f"/inbound/{ignored}/raw.eml"):
        assert client_for(ANNA.email).get(path).status_code == 404
    assert ada.get("/inbound/NOSUCHRECEIPT00000").status_code == 404
    assert ada.get("/inbound/bad%20id").status_code == 404


def test_a_receipt_made_for_a_message_forwarded_beside_another_links_to_that_receipt(
    store: Store, world: World, client_for: ClientFor
) -> None:
    parent = _ignored(store)
    trust = Trust("anna@crm.example.com", "attached", {"detail": f"forwarded with receipt {parent}"})
    child = store.receipts.add_inbound(
        b"From: a@b.pl\r\nSubject: x\r\n\r\nx\r\n", mail_from="", rcpt_tos=[], trust=trust, source=f"attached:{parent}"
    )
    page = client_for(ADA.email).get(f"/inbound/{child.id}")
    assert page.status_code == 200
    assert_page(page.text)
    assert (
        f'forwarded beside the original of <a href="/inbound/{parent}">receipt <code>{parent}</code></a>' in page.text
    )
    assert 'class="tag proof-attached">attached</span>' in page.text


def test_message_page_shows_the_raw_hash_to_admins(world: World, client_for: ClientFor) -> None:
    sha = hashlib.sha256(b"<2@crm>").hexdigest()
    assert f'<code class="hash">{sha}</code>' in client_for(ADA.email).get(f"/messages/{world.m['deal']}").text
    assert sha not in client_for(PAWEL.email).get(f"/messages/{world.m['deal']}").text
