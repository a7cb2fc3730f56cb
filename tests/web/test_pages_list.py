"""The viewer's message list: filters within visibility, bad filters, cursors and paging, link chips."""

from __future__ import annotations

import html
import re

from store import MessageFilter, Store
from tests.store.world import ADA, ANNA, JAN, PAWEL, World
from tests.web.pages_support import ClientFor, listed_ids

_NEXT = re.compile(r'<a rel="next" href="([^"]+)">')


def next_link(page_html: str) -> str | None:
    found = _NEXT.search(page_html)
    return html.unescape(found.group(1)) if found else None


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
