"""The client, contact, lead and record pages' timelines as conversations: grouping, what each message shows, the
filters kept in the URL and the pager, bad parameters, and what a viewer may not see."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

import web.directory_pages
from store import LinkWrite, Store
from tests.store.test_conversations import LONG_BODY, Convos, build_convos
from tests.store.world import ADA, ANNA, JAN, PAWEL, PIOTR, USERS, day, file_message, person
from tests.web.conftest import set_passwords

ClientFor = Callable[[str | None], TestClient]

_MESSAGE_LINK = re.compile(r'<a href="/messages/(\d+)">')
_CONVERSATION = re.compile(r'<li class="conversation">(.*?)</ol>\s*</li>', re.DOTALL)
_NEXT = re.compile(r'<a rel="next" href="([^"]+)">')
HOSTILE = '<script>alert("x")</script> <b>bold</b> & more'


@pytest.fixture
def convos(store: Store, fast_passwords: None) -> Convos:
    """``build_convos``, plus Anna's mail to Acme whose body is markup; every user with the test password."""
    built = build_convos(store)
    anna = (ANNA.email, built.world.users[ANNA.email])
    built.m["markup"] = file_message(
        store,
        submitter=anna,
        key="<markup@crm>",
        subject="Markup <i>subject</i>",
        date=day(1),
        participants=(person("from", ANNA.email), person("to", "biuro@acme-logistics.pl")),
        links=(LinkWrite("client", "address", entity_id=built.world.acme),),
        body=HOSTILE,
    )
    set_passwords(store, [u.email for u in USERS])
    return built


def conversations(page_html: str) -> list[list[int]]:
    """The message ids of each conversation a page shows, in order."""
    return [[int(i) for i in _MESSAGE_LINK.findall(block)] for block in _CONVERSATION.findall(page_html)]


def test_the_client_page_shows_its_mail_as_conversations(convos: Convos, client_for: ClientFor) -> None:
    m = convos.m
    page = client_for(ADA.email).get(f"/clients/{convos.world.acme}")
    assert page.status_code == 200
    assert conversations(page.text) == [
        [m["a"], m["b"], m["c"]],
        [m["to_piotr"], m["reply"], m["forward"], m["threaded"]],
        [m["bare"]],
        [m["client_direct"]],
        [m["deal"]],
        [m["markup"]],
    ]
    offer = _CONVERSATION.findall(page.text)[1]
    assert "<h3>Oferta flotowa</h3>" in offer and "4 messages" in offer
    assert "2026-03-12 09:30" in offer  # the last message's date
    assert "Piotr Wiśniewski" in offer and "biuro@<wbr>acme-logistics<wbr>.pl" in offer  # participants
    # Each message: its direction as an icon with words for screen readers, its kind, who filed it.
    assert '<span class="sr">incoming</span>' in offer and '<span class="sr">outgoing</span>' in offer
    assert '<span class="tag kind-redirect">redirect</span>' in offer and "filed by Anna Nowak" in offer
    # The snippet: the text body's start, whitespace collapsed; the attachment icon with its count (not the inline
    # signature image).
    assert "Dzień dobry, dziękuję za ofertę. Proszę o termin bardzo" in offer
    assert offer.count('<span class="sr"> attachment</span>') == 2


def test_a_snippet_is_plain_text_escaped(convos: Convos, client_for: ClientFor) -> None:
    text = client_for(ADA.email).get(f"/clients/{convos.world.acme}").text
    assert "<script>" not in text and "<b>bold</b>" not in text and "<i>subject</i>" not in text
    assert f'<p class="snippet">{html.escape(HOSTILE, quote=True)}</p>' in text.replace("&#34;", "&quot;")


def test_contact_lead_and_record_pages_group_their_own_mail(convos: Convos, client_for: ClientFor) -> None:
    m, ada = convos.m, client_for(ADA.email)
    contact = ada.get(f"/contacts/{convos.world.piotr}").text
    assert conversations(contact) == [[m["to_piotr"], m["reply"]]]
    assert conversations(ada.get(f"/records/{convos.world.deal}").text) == [[m["deal"]]]
    assert conversations(ada.get(f"/leads/{convos.world.lead}").text) == [[m["cc_jan"]]]


# --- filters ---------------------------------------------------------------------------------------------------------


def test_filters_are_read_from_the_url_and_kept_in_the_form(convos: Convos, client_for: ClientFor) -> None:
    m, ada, acme = convos.m, client_for(ADA.email), convos.world.acme
    kind = ada.get(f"/clients/{acme}", params={"kind": "forward"}).text
    assert conversations(kind) == [[m["forward"]]]
    assert '<option value="forward" selected>forward</option>' in kind
    assert f'<a href="/clients/{acme}">Clear filters</a>' in kind
    assert f'href="/messages?client={acme}&amp;kind=forward"' in kind  # the message list, same filter
    incoming = ada.get(f"/clients/{acme}", params={"direction": "incoming"}).text
    assert conversations(incoming) == [[m["reply"]], [m["client_direct"]]]
    person_page = ada.get(f"/clients/{acme}", params={"person": PIOTR.emails[0].upper()}).text
    assert conversations(person_page) == [[m["to_piotr"], m["reply"]]]
    assert f'value="{PIOTR.emails[0].upper()}"' in person_page
    pawel = str(convos.world.users[PAWEL.email])
    filed = ada.get(f"/clients/{acme}", params={"submitter": pawel}).text
    assert conversations(filed) == [[m["c"]], [m["a"]], [m["threaded"]], [m["bare"]], [m["deal"]]]
    assert f'<option value="{pawel}" selected>' in filed
    dates = ada.get(f"/clients/{acme}", params={"from": "2026-03-10", "to": "2026-03-11"}).text
    assert conversations(dates) == [[m["reply"], m["forward"]]]
    assert 'value="2026-03-10"' in dates and 'value="2026-03-11"' in dates
    none = ada.get(f"/clients/{acme}", params={"person": "nobody@example.org"}).text
    assert conversations(none) == [] and "No mail matches these filters." in none


def test_the_pager_keeps_the_filters(convos: Convos, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web.directory_pages, "TIMELINE_LIMIT", 2)
    m, ada, acme = convos.m, client_for(ADA.email), convos.world.acme
    pawel = str(convos.world.users[PAWEL.email])
    url: str | None = f"/clients/{acme}?submitter={pawel}&kind=bcc"
    seen: list[list[int]] = []
    while url is not None:
        page = ada.get(html.unescape(url)).text
        seen += conversations(page)
        found = _NEXT.search(page)
        url = found.group(1) if found else None
        if url is not None:
            assert f"submitter={pawel}" in url and "kind=bcc" in url and "after=" in url
            assert ">← Newest</a>" in ada.get(html.unescape(url)).text
    assert seen == [[m["c"]], [m["a"]], [m["threaded"]], [m["bare"]], [m["deal"]]]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"kind": "fax"}, "kind: must be one of bcc, forward, redirect"),
        ({"direction": "sideways"}, "direction: must be one of incoming, outgoing"),
        ({"person": "not an address"}, "person: must be an email address"),
        ({"person": "a@" + "b" * 400}, "person: must be an email address"),
        ({"submitter": "anna"}, "submitter: must be a whole number"),
        ({"from": "2026-13-01"}, "from: must be a date"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to: must not be before from"),
        ({"after": "junk"}, "after: bad cursor"),
    ],
)
def test_bad_filter_values_are_the_400_page(
    convos: Convos, client_for: ClientFor, params: dict[str, str], says: str
) -> None:
    ada = client_for(ADA.email)
    for path in (f"/clients/{convos.world.acme}", f"/contacts/{convos.world.piotr}", f"/records/{convos.world.deal}"):
        response = ada.get(path, params=params)
        assert response.status_code == 400, (path, params)
        assert says in html.unescape(response.text)


# --- visibility ------------------------------------------------------------------------------------------------------


def test_an_own_viewer_sees_neither_the_messages_nor_the_snippets_of_others(
    convos: Convos, client_for: ClientFor
) -> None:
    m = convos.m
    text = client_for(PAWEL.email).get(f"/clients/{convos.world.acme}").text
    assert conversations(text) == [[m["c"]], [m["a"]], [m["threaded"]], [m["bare"]], [m["deal"]]]
    for secret in ("Oferta", "oferta", "Beta", "dziękuję", "bardzo", "bold", "piotr@", "Anna Nowak <", "attachment"):
        assert secret not in text, secret
    # Filtering by a person of mail he may not see finds nothing, and says nothing more.
    piotr = client_for(PAWEL.email).get(f"/clients/{convos.world.acme}", params={"person": PIOTR.emails[0]}).text
    assert conversations(piotr) == [] and "Dzień dobry" not in piotr


def test_a_viewer_who_may_see_none_of_it_gets_an_empty_timeline(convos: Convos, client_for: ClientFor) -> None:
    text = client_for(JAN.email).get(f"/clients/{convos.world.acme}").text
    assert conversations(text) == [] and "No mail linked here." in text
    assert LONG_BODY[:12] not in text


def test_filter_days_are_days_in_the_viewers_time_zone(convos: Convos, client_for: ClientFor) -> None:
    m, ada, acme = convos.m, client_for(ADA.email), convos.world.acme
    days = {"from": "2026-03-10", "to": "2026-03-11"}
    # Every message was sent at 09:30 UTC: in Honolulu (UTC-10), the 10th's is the 9th's evening, the 12th's the 11th's.
    ada.cookies.set("tz", "Pacific/Honolulu")
    page = ada.get(f"/clients/{acme}", params=days).text
    assert conversations(page) == [[m["threaded"]], [m["forward"]]]
    assert 'From date <span class="tz">(Pacific/Honolulu)</span>' in page
