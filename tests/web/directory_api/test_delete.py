"""The directory sync API's DELETE: what filed mail refers to needs force, and its mail is refiled."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import LinkWrite
from store.models import Client, Contact, MessageCode, Record, User
from tests.store.test_relink import email, links
from tests.web.directory_api.support import NO_RELINK, Api, names


def test_delete_a_record_nothing_refers_to(api: Api) -> None:
    api.put("records/OP-9", {"type": "deal", "title": "Nine"})
    response = api.delete("records/op-9")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "records",
        "key": "OP-9",
        "deleted": True,
        "links_removed": 0,
        "codes_unresolved": 0,
        "participants_unmatched": 0,
        "detached": 0,
        "relink": NO_RELINK,
    }
    assert names(api.store, Record) == []
    assert api.delete("records/OP-9").status_code == 404


def test_delete_a_record_filed_mail_refers_to_needs_force(api: Api) -> None:
    # Given mail filed on OP-123 through its code
    message = email(api.store, "<d@x>", to="jan@acme.pl", codes=("OP-123",))
    api.put("records/OP-123", {"type": "deal", "title": "Fleet"})
    # A plain DELETE is refused, and says why
    refused = api.delete("records/OP-123")
    assert refused.status_code == 409
    assert refused.json()["references"] == {"links": 1, "codes": 1}
    assert "force=true" in refused.json()["error"]
    assert names(api.store, Record) == ["OP-123"]
    # With force the record goes, its link too, and the code waits again: the mail itself stays
    forced = api.delete("records/OP-123?force=true")
    assert forced.status_code == 200, forced.text
    assert (forced.json()["links_removed"], forced.json()["codes_unresolved"]) == (1, 1)
    assert not any(t == "record" for _, t, _ in links(api.store))
    with Session(api.store.engine) as session:
        assert session.execute(select(MessageCode.message_id, MessageCode.record_id)).all() == [(message, None)]
    # A new record with that code files it again
    assert api.put("records/OP-123", {"type": "deal", "title": "Fleet"}).json()["relink"]["codes_resolved"] == 1


def test_delete_a_client_detaches_its_contacts_with_force(api: Api) -> None:
    api.put("clients/Acme", {"emails": ["biuro@acme.pl"]})
    api.put("contacts/jan@acme.pl", {"name": "Jan", "client": "Acme"})
    refused = api.delete("clients/acme")
    assert refused.status_code == 409 and refused.json()["references"] == {"contacts": 1}
    forced = api.delete("clients/acme?force=1")
    assert forced.status_code == 200 and forced.json()["detached"] == 1
    assert names(api.store, Client) == []
    with Session(api.store.engine) as session:
        assert session.execute(select(Contact.name, Contact.client_id)).all() == [("Jan", None)]
    assert api.delete("clients/acme?force=maybe").status_code == 400


def test_delete_a_contact_unmatches_its_mail_and_refiles_it(api: Api) -> None:
    # Given mail to jan@acme.pl filed on the contact Jan, and a client owning acme.pl
    api.put("clients/Acme", {"domains": ["acme.pl"]})
    api.put("contacts/jan@acme.pl", {"name": "Jan"})
    contact = api.store.directory.find_people(["jan@acme.pl"]).contacts["jan@acme.pl"].id
    message = email(api.store, "<e@x>", to="jan@acme.pl", links=(LinkWrite("contact", "address", entity_id=contact),))
    assert api.delete("contacts/jan@acme.pl").status_code == 409
    # When it is deleted with force
    forced = api.delete("contacts/JAN@acme.pl?force=true")
    # Then its link goes, and the address, matching nothing now, is filed on the client by its domain
    assert forced.status_code == 200, forced.text
    body = forced.json()
    assert body["key"] == "jan@acme.pl" and body["links_removed"] == 1
    assert body["relink"]["client_links"] == 1
    assert not any(t == "contact" for _, t, _ in links(api.store))
    assert any(m == message and t == "client" for m, t, _ in links(api.store, reason="domain"))


def test_a_user_that_mail_refers_to_is_never_deleted(api: Api) -> None:
    email(api.store, "<f@x>", to="jan@acme.pl")
    for path in ("users/anna@crm.example.com", "users/anna@crm.example.com?force=true"):
        response = api.delete(path)
        assert response.status_code == 409
        assert response.json()["references"]["submitted messages"] == 1
    api.put("users/ewa@example.com", {"name": "Ewa", "role": "own"})
    assert api.delete("users/ewa@example.com").status_code == 200
    assert names(api.store, User) == ["anna@crm.example.com"]
