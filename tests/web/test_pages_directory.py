"""The viewer's client, contact, record and lead pages: their details and only the mail the viewer may see."""

from __future__ import annotations

from tests.store.world import ADA, ANNA, DEAL, JAN, LEAD, PAWEL, PIOTR, World
from tests.web.pages_support import ClientFor, listed_ids


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
