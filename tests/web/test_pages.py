"""The viewer's HTML pages: every page renders, roles see exactly their mail (404 otherwise), filters and paging.

The data is ``build_world`` from the store's read-side tests; ``VISIBLE`` there says who sees which email.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from starlette.testclient import TestClient

from store import MessageFilter, Store
from tests.store.world import ADA, ANNA, DEAL, EVA, JAN, LEAD, PAWEL, PIOTR, SOLO, VISIBLE, World
from web.headers import DEFAULT_CSP, MESSAGE_PAGE_CSP
from web.params import MAX_ID

ClientFor = Callable[[str | None], TestClient]

_ROW_LINK = re.compile(r'<a href="/messages/(\d+)">')
_NEXT = re.compile(r'<a rel="next" href="([^"]+)">')


def listed_ids(page_html: str) -> list[int]:
    """The message ids a list page links to, in order."""
    return [int(i) for i in _ROW_LINK.findall(page_html)]


def next_link(page_html: str) -> str | None:
    found = _NEXT.search(page_html)
    return html.unescape(found.group(1)) if found else None


#: The one script a page may load: the list keys, from our own static files (the CSP allows 'self' only).
OWN_SCRIPT = '<script src="/static/keys.js" defer></script>'


def assert_page(response_text: str) -> None:
    """Nothing the default CSP would block: no script but our own file, no inline style."""
    lowered = response_text.lower().replace(OWN_SCRIPT, "")
    assert "<script" not in lowered
    assert " style=" not in lowered
    assert "<style" not in lowered


# --- every page, for role all ---------------------------------------------------------------------------------------


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


# --- roles: guessing ids --------------------------------------------------------------------------------------------


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


# --- the list: filters and paging ---------------------------------------------------------------------------------


#: Filter queries, and the emails each lists for role all.
FILTERS = [
    ("direction=incoming", {"client_direct", "beta", "eva_alias_anna", "twice"}),
    ("direction=outgoing&kind=bcc", {"to_piotr", "deal", "cc_jan", "unmatched", "solo"}),
    ("kind=forward", {"beta"}),
    ("q=Zapytanie", {"cc_jan"}),
    ("q=Wi%C5%9Bniewski", {"to_piotr"}),
    ("unmatched=1", {"unmatched", "solo"}),
    ("unmatched=on&kind=redirect", set()),
    ("from=2026-03-04&to=2026-03-05", {"client_direct", "beta"}),
    ("to=2026-03-02", {"to_piotr", "solo"}),
]


def test_filters(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    for query, names in FILTERS:
        page = ada.get(f"/messages?{query}")
        assert page.status_code == 200, query
        assert set(listed_ids(page.text)) == world.ids(*names), query


def test_entity_and_submitter_filters(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)

    def ids(query: str) -> set[int]:
        return set(listed_ids(ada.get(f"/messages?{query}").text))

    assert ids(f"client={world.acme}") == world.ids("to_piotr", "deal", "client_direct")
    assert ids(f"contact={world.karel}") == world.ids("beta", "twice")
    assert ids(f"record={world.deal}") == world.ids("deal")
    assert ids(f"lead={world.lead}") == world.ids("cc_jan")
    assert ids(f"submitter={world.users[PAWEL.email]}") == world.ids("deal", "unmatched", "twice")


def test_filters_stay_within_visibility(world: World, client_for: ClientFor) -> None:
    jan = client_for(JAN.email)
    assert listed_ids(jan.get(f"/messages?client={world.acme}").text) == []
    assert set(listed_ids(jan.get("/messages?q=sklad").text)) == world.ids("beta", "twice")


def test_the_form_keeps_the_filter_and_offers_the_export(world: World, client_for: ClientFor) -> None:
    page = client_for(ADA.email).get(f"/messages?kind=forward&q=sklad&unmatched=0&client={world.beta}")
    text = page.text
    assert '<option value="forward" selected>' in text
    assert 'name="q" type="search" value="sklad"' in text
    assert 'name="unmatched" type="checkbox" value="1">' in text  # unmatched=0: not checked
    assert f'value="{world.beta}"' in text and '<details class="ids" open>' in text
    assert f'<option value="{world.users[PAWEL.email]}">{PAWEL.name}</option>' in text
    assert f'href="/messages.csv?q=sklad&amp;kind=forward&amp;client={world.beta}&amp;unmatched=0"' in text


#: Bad filter queries, and the parameter each error must name.
BAD_FILTERS = [
    ("direction=sideways", "direction"),
    ("kind=spam", "kind"),
    ("from=yesterday", "from"),
    ("from=2026-03-05&to=2026-03-01", "to"),
    ("client=acme", "client"),
    ("submitter=-1", "submitter"),
    ("unmatched=maybe", "unmatched"),
    ("limit=0", "limit"),
    ("after=not-a-cursor", "after"),
]


def test_a_bad_filter_is_a_400_naming_the_parameter(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    for query, param in BAD_FILTERS:
        page = ada.get(f"/messages?{query}")
        assert page.status_code == 400, query
        error = re.search(r'<p class="error" role="alert">([^<]*)</p>', page.text)
        assert error is not None and error.group(1).startswith(f"{param}: "), query
        assert "Traceback" not in page.text
        assert '<form class="filters"' in page.text  # the form is there to fix it


def test_a_cursor_of_another_list_is_a_400(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    leads_cursor = "bHwyMDI2LTAzLTAxVDAwOjAwOjAwKzAwOjAwfDE"  # "l|2026-03-01T00:00:00+00:00|1"
    assert ada.get(f"/messages?after={leads_cursor}").status_code == 400
    assert ada.get(f"/clients/{world.acme}?after=garbage").status_code == 400
    assert ada.get("/leads?after=garbage").status_code == 400


def test_older_links_walk_every_page_newest_first(store: Store, world: World, client_for: ClientFor) -> None:
    anna = client_for(ANNA.email)
    seen: list[int] = []
    url: str | None = "/messages?limit=2&direction=outgoing"
    pages = 0
    while url is not None:
        page = anna.get(url)
        assert page.status_code == 200
        ids = listed_ids(page.text)
        assert 0 < len(ids) <= 2
        seen += ids
        url = next_link(page.text)
        if url is not None:
            assert "limit=2" in url and "direction=outgoing" in url
            assert "Newest" in anna.get(url).text
        pages += 1

    expected = store.queries.iter_messages(world.viewer(store, ANNA.email), MessageFilter(direction="outgoing"))
    assert seen == [row.id for row in expected]
    assert (len(seen), pages) == (4, 2)


def test_rows_show_chips_linking_to_entities(world: World, client_for: ClientFor) -> None:
    text = client_for(ADA.email).get("/messages").text
    assert f'href="/records/{world.deal}"' in text
    assert f'href="/clients/{world.acme}"' in text
    assert f'href="/leads/{world.lead}"' in text
    assert '<span class="none">unmatched</span>' in text


# --- directory pages ------------------------------------------------------------------------------------------------


def test_client_page_lists_its_details_and_all_its_mail(world: World, client_for: ClientFor) -> None:
    page = client_for(ADA.email).get(f"/clients/{world.acme}")
    text = page.text
    assert "Acme Logistics" in text and "acme-logistics.pl" in text and "biuro@<wbr>acme-logistics<wbr>.pl" in text
    assert f'<a href="/contacts/{world.piotr}">{PIOTR.name}</a>' in text
    assert f'<a href="/records/{world.deal}"><code>OP-123</code> Fleet renewal</a>' in text
    # Its own mail, its contacts' mail and its records' mail.
    assert set(listed_ids(text)) == world.ids("to_piotr", "deal", "client_direct")
    assert f'href="/messages?client={world.acme}"' in text


def test_timelines_show_only_what_the_viewer_may_see(world: World, client_for: ClientFor) -> None:
    page = client_for(JAN.email).get(f"/clients/{world.acme}")
    assert page.status_code == 200  # the directory is not secret
    assert listed_ids(page.text) == []
    assert listed_ids(client_for(PAWEL.email).get(f"/clients/{world.acme}").text) == [world.m["deal"]]


def test_contact_record_and_lead_pages(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    contact = ada.get(f"/contacts/{world.karel}").text
    assert f'<a href="/clients/{world.beta}">Beta s.r.o.</a>' in contact
    assert set(listed_ids(contact)) == world.ids("beta", "twice")

    record = ada.get(f"/records/{world.deal}").text
    assert f"<code>{DEAL.code}</code>" in record and DEAL.title in record and "deal" in record
    assert f'<a href="/clients/{world.acme}">Acme Logistics</a>' in record
    assert listed_ids(record) == [world.m["deal"]]

    lead = ada.get(f"/leads/{world.lead}").text
    assert LEAD.replace("@", "@<wbr>").replace(".", "<wbr>.") in lead
    assert "Jan Nowak" in lead and ANNA.name in lead and "not yet" in lead
    assert f'in <a href="/messages/{world.m["cc_jan"]}">this message</a>' in lead


def test_a_lead_hides_a_first_message_the_viewer_may_not_see(world: World, client_for: ClientFor) -> None:
    pawel = client_for(PAWEL.email)
    assert f'href="/messages/{world.m["cc_jan"]}"' not in pawel.get(f"/leads/{world.lead}").text
    assert f'href="/messages/{world.m["cc_jan"]}"' not in pawel.get("/leads").text
    assert f'href="/messages/{world.m["cc_jan"]}"' in client_for(ADA.email).get("/leads").text


def test_leads_list(world: World, client_for: ClientFor) -> None:
    text = client_for(ANNA.email).get("/leads").text
    assert f'<a href="/leads/{world.lead}">Jan Nowak</a>' in text
    assert ANNA.name in text  # the owner
    assert "<td>no</td>" in text  # not converted


def test_missing_directory_entries_are_404(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    for path in ("/clients/999999", "/contacts/999999", "/leads/999999", "/records/999999"):
        response = ada.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text


# --- the ingest log -------------------------------------------------------------------------------------------------


def test_ingest_log_shows_errors_and_reasons_by_status(store: Store, world: World, client_for: ClientFor) -> None:
    failed = store.receipts.add_inbound(
        b"broken", mail_from="anna@crm.example.com", rcpt_tos=["assistant@crm.example.com"]
    )
    assert store.receipts.mark_attempt_failed(failed.id, "ParseError: no From header", max_attempts=1) == "failed"
    ignored = store.receipts.add_inbound(b"news", mail_from="news@example.org", rcpt_tos=["assistant@crm.example.com"])
    assert store.receipts.mark_processed(ignored.id, "ignored", reason="List-Id header: a mailing list")
    ada = client_for(ADA.email)

    everything = ada.get("/inbound").text
    only_failed = ada.get("/inbound?status=failed").text
    only_ignored = ada.get("/inbound?status=ignored").text

    assert failed.id in everything and ignored.id in everything
    assert "ParseError: no From header" in only_failed and ignored.id not in only_failed
    assert "List-Id header: a mailing list" in only_ignored and failed.id not in only_ignored
    assert "failed (1)" in everything
    assert "ParseError: no From header" in ada.get("/").text  # the dashboard's recent failures


def test_ingest_log_rejects_a_bad_status(world: World, client_for: ClientFor) -> None:
    response = client_for(ADA.email).get("/inbound?status=lost")
    assert response.status_code == 400
    assert "status: must be one of queued, linked, ignored, failed" in response.text
    assert client_for(ADA.email).get("/inbound?limit=0").status_code == 400


def test_message_page_shows_how_each_receipt_was_proven(world: World, store: Store, client_for: ClientFor) -> None:
    from store import Trust
    from tests.store.world import file_message

    checks = [
        {"method": "arc", "result": "pass", "domain": "microsoft.com", "selector": "arcselector9901", "detail": ""}
    ]
    auth = {"route": "mailbox", "via": "X-MS-Exchange-Inbox-Rules-Loop", "detail": "arc pass d=microsoft.com"}
    message_id = file_message(
        store,
        submitter=(ANNA.email, world.users[ANNA.email]),
        key="<redirected@acme.test>",
        subject="Redirected",
        date=None,
        trust=Trust(ANNA.email, "arc", {**auth, "checks": checks}),
    )

    page = client_for(ADA.email).get(f"/messages/{message_id}")

    assert page.status_code == 200
    assert 'class="tag proof-arc">arc</span>' in page.text
    assert "arc pass d=microsoft.com" in page.text
    assert 'class="tag result-pass">ARC pass</span>' in page.text
    # A receipt from before the gateway recorded it says so
    old = client_for(ADA.email).get(f"/messages/{world.m['deal']}")
    assert "not recorded" in old.text


# --- unresolved codes -------------------------------------------------------------------------------------------------


def test_the_dashboard_number_links_to_the_unresolved_codes_each_to_its_mail(
    world: World, client_for: ClientFor
) -> None:
    jan = client_for(JAN.email)
    # Given Jan's forward naming XX-9, which no record has
    assert '<a href="/codes">1</a> in all visible mail' in jan.get("/").text

    # When he opens the list
    page = jan.get("/codes")

    # Then it names the code, its one message and its date, and links to the messages filtered by it
    assert page.status_code == 200
    assert_page(page.text)
    assert '<a href="/messages?code=XX-9">XX-9</a>' in page.text
    assert "<td>1</td>" in page.text
    assert "OP-200" not in page.text  # resolved codes are not listed
    listed = jan.get("/messages?code=XX-9")
    assert listed.status_code == 200
    assert listed_ids(listed.text) == [world.m["beta"]]
    assert 'value="XX-9"' in listed.text  # the filter form keeps the code
    assert listed_ids(jan.get("/messages?code=xx-9").text) == [world.m["beta"]]
    assert listed_ids(jan.get("/messages?code=OP-200").text) == [world.m["beta"]]


def test_unresolved_codes_follow_role_visibility(world: World, client_for: ClientFor) -> None:
    # Anna may not see Jan's forward: neither its code nor the message
    anna = client_for(ANNA.email)
    assert "No unresolved codes." in anna.get("/codes").text
    assert "XX-9" not in anna.get("/codes").text
    assert listed_ids(anna.get("/messages?code=XX-9").text) == []
    assert "XX-9" in client_for(ADA.email).get("/codes").text


def test_the_codes_page_is_get_only_and_a_bad_code_is_a_400(world: World, client_for: ClientFor) -> None:
    ada = client_for(ADA.email)
    assert ada.post("/codes").status_code == 405
    bad = ada.get("/messages?code=OP%20123%3B")
    assert bad.status_code == 400
    assert "code: must be a record code such as OP-123" in html.unescape(bad.text)
