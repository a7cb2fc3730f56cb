"""The viewer's unresolved codes: linked from the dashboard, by role visibility, GET only."""

from __future__ import annotations

import html

from tests.store.world import ADA, ANNA, JAN, World
from tests.web.pages_support import ClientFor, assert_page, listed_ids


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
