"""The directory sync API's PUT: create or update one row by its natural key, checked as the CSV import checks it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Client, Contact, MessageCode, Record, User
from tests.store.test_relink import email, links
from tests.web.directory_api.support import NO_RELINK, Api, names


def test_put_creates_then_updates_the_same_client(api: Api) -> None:
    row = {"domains": ["acme.pl"], "emails": "biuro@acme.pl"}
    first = api.put("clients/Acme%20Logistics", row)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "kind": "clients",
        "key": "Acme Logistics",
        "rows": 1,
        "created": 1,
        "updated": 0,
        "new_teams": [],
        "relink": NO_RELINK,
    }
    # The same PUT again: nothing new, the one client updated in place
    again = api.put("clients/Acme%20Logistics", row)
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["updated"]) == (0, 1)
    assert names(api.store, Client) == ["Acme Logistics"]
    # The key names a client case-insensitively, as the import does
    assert api.put("clients/ACME%20logistics", {"name": "Acme Logistics"}).json()["updated"] == 1
    assert names(api.store, Client) == ["Acme Logistics"]


def test_put_a_key_with_a_slash_percent_encoded(api: Api) -> None:
    response = api.put("clients/A%2FB%20Sp.%20z%20o.o.", {})
    assert response.status_code == 200, response.text
    assert names(api.store, Client) == ["A/B Sp. z o.o."]


def test_put_users_contacts_and_records_by_their_natural_keys(api: Api) -> None:
    user = api.put("users/Ewa@Example.com", {"name": "Ewa", "role": "own", "team": "Sales"})
    assert user.status_code == 200, user.text
    assert user.json()["key"] == "ewa@example.com" and user.json()["new_teams"] == ["Sales"]
    assert api.put("clients/Acme", {}).status_code == 200
    contact = api.put("contacts/jan@acme.pl", {"name": "Jan", "client": "acme"})
    assert contact.status_code == 200, contact.text
    # A contact is found by any of its addresses; the row's list becomes its addresses
    more = api.put("contacts/jan@acme.pl", {"name": "Jan K", "emails": ["jan@acme.pl", "jk@acme.pl"]})
    assert (more.json()["created"], more.json()["updated"]) == (0, 1)
    assert api.put("contacts/jk@acme.pl", {"name": "Jan K", "emails": ["jk@acme.pl"]}).json()["updated"] == 1
    record = api.put("records/op-7", {"type": "deal", "title": "Fleet", "client": "Acme"})
    assert record.status_code == 200, record.text
    assert record.json()["key"] == "OP-7"
    assert names(api.store, User) == ["anna@crm.example.com", "ewa@example.com"]
    assert names(api.store, Contact) == ["Jan K"]
    assert names(api.store, Record) == ["OP-7"]


def test_put_checks_the_row_as_the_csv_import_does(api: Api) -> None:
    cases = {
        "users/ewa@example.com": ({"name": "Ewa", "role": "boss"}, "role: must be one of all, team, own (got 'boss')"),
        "clients/Acme": ({"domains": ["not a domain"]}, "domains: not a domain name: 'not a domain'"),
        "records/OP-1": ({"type": "invoice", "title": "x"}, "type: 'invoice' does not match code prefix 'OP'"),
        "records/XX-1": ({"type": "deal", "title": "x"}, "code: unknown code prefix 'XX'; configured: OP"),
        "contacts/jan@acme.pl": ({"name": "Jan", "client": "Nobody"}, "unknown client 'Nobody' (import clients first)"),
        "clients/Beta": ({"colour": "red"}, "unknown field 'colour'; allowed: name, domains, emails"),
        "clients/Gamma": ({"emails": 5}, "emails: expected a string or an array of strings, got a number"),
        "records/OP-2": (
            {"code": "OP-3", "type": "deal", "title": "x"},
            "code: must match the key in the path, 'OP-2'",
        ),
        "contacts/jan@acme.pl ": ({"name": "J", "emails": ["x@acme.pl"]}, "emails: must include the key in the path"),
        "users/not-an-address": ({"name": "X", "role": "own"}, "email: not an email address: 'not-an-address'"),
    }
    for path, (row, error) in cases.items():
        response = api.put(path, row)
        assert response.status_code == 422, (path, response.text)
        body = response.json()
        assert body["error"] == "1 row invalid; nothing was applied"
        [problem] = body["problems"]
        assert problem["line"] == 1 and problem["error"].startswith(error), (path, problem)
    assert names(api.store, Client) == []
    assert names(api.store, Record) == []


def test_put_a_body_that_is_not_a_json_object(api: Api) -> None:
    headers = {**api.auth(), "Content-Type": "application/json"}
    for body in ("{", "[1]", '"x"', "[" * 50_000):
        response = api.client.put("/api/directory/clients/Acme", content=body, headers=headers)
        assert response.status_code == 422, body[:10]
        assert response.json()["problems"][0]["line"] == 1


def test_put_a_record_files_the_mail_that_waited_for_its_code(api: Api) -> None:
    # Given a filed message whose subject named OP-123 before any record had that code
    message = email(api.store, "<a@x>", to="jan@acme.pl", codes=("OP-123",))
    # When the record is PUT
    response = api.put("records/OP-123", {"type": "deal", "title": "Fleet renewal"})
    # Then the code is resolved, the mail filed on the record, and the answer counts it
    assert response.status_code == 200, response.text
    assert response.json()["relink"] == {**NO_RELINK, "codes_resolved": 1, "links_added": 1, "record_links": 1}
    with Session(api.store.engine) as session:
        record = session.scalar(select(Record.id).where(Record.code == "OP-123"))
        assert session.scalar(select(MessageCode.record_id)) == record
    assert (message, "record", record) in links(api.store, reason="code")
    # The same PUT again changes nothing more
    assert api.put("records/OP-123", {"type": "deal", "title": "Fleet renewal"}).json()["relink"] == NO_RELINK


def test_put_a_client_files_unmatched_mail_by_its_domain(api: Api) -> None:
    message = email(api.store, "<b@x>", to="someone@acme-logistics.pl")
    response = api.put("clients/Acme", {"domains": "acme-logistics.pl"})
    assert response.json()["relink"] == {
        **NO_RELINK,
        "participants_matched": 1,
        "links_added": 1,
        "client_links": 1,
    }
    assert any(m == message and t == "client" for m, t, _ in links(api.store, reason="domain"))


def test_put_a_users_time_zone_sets_it_null_clears_it_and_leaving_it_out_keeps_it(api: Api) -> None:
    def zone() -> str | None:
        login = api.store.auth.get_login("ewa@example.com")
        assert login is not None
        return login.time_zone

    row = {"name": "Ewa", "role": "own"}
    assert api.put("users/ewa@example.com", {**row, "time_zone": "Europe/Warsaw"}).status_code == 200
    assert zone() == "Europe/Warsaw"
    # A CRM that knows nothing of zones sends rows without the field: the zone stays
    assert api.put("users/ewa@example.com", {**row, "name": "Ewa K"}).json()["updated"] == 1
    assert zone() == "Europe/Warsaw"
    bad = api.put("users/ewa@example.com", {**row, "time_zone": "Europe/Warszawa"})
    assert bad.status_code == 422
    assert bad.json()["problems"] == [
        {
            "line": 1,
            "error": "time_zone: 'Europe/Warszawa' is not a time zone; use an IANA name such as Europe/Warsaw or "
            "America/New_York",
        }
    ]
    assert zone() == "Europe/Warsaw"
    assert api.put("users/ewa@example.com", {**row, "time_zone": None}).status_code == 200
    assert zone() is None
    unknown = api.put("users/ewa@example.com", {**row, "timezone": "UTC"}).json()["problems"][0]["error"]
    assert unknown == "unknown field 'timezone'; allowed: email, name, team, role, aliases, time_zone"
