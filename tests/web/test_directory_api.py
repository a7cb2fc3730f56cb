"""The directory sync API: PUT, DELETE and bulk JSON Lines under ``/api/directory/``, for ``directory:write`` tokens."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from mailassist import importer
from store import LinkWrite, Store
from store.models import Client, Contact, MessageCode, Record, User
from tests.store.test_relink import ANNA, email, links
from tests.web.conftest import log_in, set_passwords
from tests.web.test_api_schema import SCHEMA, errors, resolve
from web.app import create_app
from web.auth.passwords import hash_api_token, new_api_token
from web.directory_api import DirectoryRules

RULES = DirectoryRules(
    parse_row=functools.partial(importer.json_row, codes={"OP": "deal"}),
    natural_key=importer.natural_key,
    relink_scope=importer.relink_scope,
    free_mail_domains=("gmail.com",),
)
NDJSON = {"Content-Type": "application/x-ndjson"}


class Api:
    """A viewer app over the store, with Anna's tokens: ``write`` (``directory:write``) and ``read``."""

    def __init__(self, store: Store, client: TestClient) -> None:
        self.store = store
        self.client = client
        anna = store.directory.find_users_by_addresses([ANNA.email])[ANNA.email].id
        self.tokens = {}
        for scope in ("directory:write", "read"):
            self.tokens[scope] = new_api_token()
            store.auth.add_api_token(anna, scope, hash_api_token(self.tokens[scope]), scopes=[scope])

    def auth(self, scope: str = "directory:write") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def put(self, path: str, row: dict[str, Any], scope: str = "directory:write") -> Any:
        return self.client.put(f"/api/directory/{path}", json=row, headers=self.auth(scope))

    def bulk(self, kind: str, lines: list[Any] | str) -> Any:
        body = lines if isinstance(lines, str) else "\n".join(json.dumps(line) for line in lines) + "\n"
        return self.client.post(f"/api/directory/{kind}", content=body, headers={**NDJSON, **self.auth()})

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/directory/{path}", headers=self.auth())


@pytest.fixture
def api(sqlite_store: Store) -> Iterator[Api]:
    sqlite_store.directory.apply_users([ANNA])
    app = create_app(sqlite_store, secret_key="k" * 32, directory=RULES)
    with TestClient(app, follow_redirects=False) as client:
        yield Api(sqlite_store, client)


def _names(store: Store, model: Any) -> list[str]:
    column = model.code if model is Record else model.email if model is User else model.name
    with Session(store.engine) as session:
        return sorted(session.scalars(select(column)))


NO_RELINK = {
    "codes_resolved": 0,
    "leads_converted": 0,
    "participants_matched": 0,
    "links_added": 0,
    "record_links": 0,
    "contact_links": 0,
    "client_links": 0,
}


# --- PUT ----------------------------------------------------------------------------------------------------------


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
    assert _names(api.store, Client) == ["Acme Logistics"]
    # The key names a client case-insensitively, as the import does
    assert api.put("clients/ACME%20logistics", {"name": "Acme Logistics"}).json()["updated"] == 1
    assert _names(api.store, Client) == ["Acme Logistics"]


def test_put_a_key_with_a_slash_percent_encoded(api: Api) -> None:
    response = api.put("clients/A%2FB%20Sp.%20z%20o.o.", {})
    assert response.status_code == 200, response.text
    assert _names(api.store, Client) == ["A/B Sp. z o.o."]


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
    assert _names(api.store, User) == ["anna@crm.example.com", "ewa@example.com"]
    assert _names(api.store, Contact) == ["Jan K"]
    assert _names(api.store, Record) == ["OP-7"]


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
    assert _names(api.store, Client) == []
    assert _names(api.store, Record) == []


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


# --- bulk JSON Lines --------------------------------------------------------------------------------------------


def test_bulk_contacts_from_json_lines(api: Api) -> None:
    assert api.put("clients/Acme", {}).status_code == 200
    rows = [
        {"name": "Jan", "emails": ["jan@acme.pl"], "client": "Acme"},
        {"name": "Ola", "emails": "ola@acme.pl;o@acme.pl"},
    ]
    response = api.bulk("contacts", rows)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["rows"], body["created"], body["updated"]) == ("contacts", 2, 2, 0)
    again = api.bulk("contacts", rows)
    assert (again.json()["created"], again.json()["updated"]) == (0, 2)
    assert _names(api.store, Contact) == ["Jan", "Ola"]


def test_bulk_converts_a_lead_whose_address_a_contact_takes(api: Api) -> None:
    message = email(api.store, "<c@x>", to="nowak@gmail.com", lead="Pan Nowak")
    response = api.bulk("contacts", [{"name": "Piotr Nowak", "emails": ["nowak@gmail.com"]}])
    assert response.json()["relink"]["leads_converted"] == 1
    assert any(m == message and t == "contact" for m, t, _ in links(api.store))


def test_a_bad_line_applies_nothing_and_names_every_bad_line(api: Api) -> None:
    body = "\n".join(
        [
            json.dumps({"code": "OP-1", "type": "deal", "title": "One"}),
            "",  # blank lines are not rows, but they count as lines
            "{not json",
            json.dumps({"code": "OP-2", "type": "deal", "title": ""}),
            json.dumps({"code": "OP-1", "type": "deal", "title": "Again"}),
            json.dumps(["OP-3"]),
        ]
    )
    response = api.bulk("records", body)
    assert response.status_code == 422
    assert response.json()["error"] == "3 rows invalid; nothing was applied"
    problems = response.json()["problems"]
    assert [p["line"] for p in problems] == [3, 4, 6]
    assert problems[0]["error"].startswith("not JSON")
    assert problems[1]["error"] == "title: required, but empty"
    assert problems[2]["error"].startswith("expected a JSON object")
    assert _names(api.store, Record) == []
    # Rows fine alone but clashing with each other (the store's checks) are per line as well
    clash = api.bulk("records", body.splitlines()[0] + "\n" + body.splitlines()[4])
    assert clash.status_code == 422
    assert clash.json()["problems"] == [{"line": 2, "error": "duplicate record 'OP-1' (also on line 1)"}]
    assert _names(api.store, Record) == []


def test_bulk_wants_json_lines_and_rows(api: Api) -> None:
    wrong_type = api.client.post("/api/directory/clients", content='{"name": "A"}', headers=api.auth())
    assert wrong_type.status_code == 415
    empty = api.bulk("clients", "\n\n")
    assert empty.status_code == 422 and empty.json()["problems"][0]["error"].startswith("no rows")
    assert api.bulk("planets", [{"name": "Mars"}]).status_code == 404


# --- DELETE -------------------------------------------------------------------------------------------------------


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
    assert _names(api.store, Record) == []
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
    assert _names(api.store, Record) == ["OP-123"]
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
    assert _names(api.store, Client) == []
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
    assert _names(api.store, User) == ["anna@crm.example.com"]


# --- who may write ----------------------------------------------------------------------------------------------


def test_writes_need_a_directory_write_token(api: Api) -> None:
    row = {"name": "Acme"}
    anonymous = api.client.put("/api/directory/clients/Acme", json=row)
    assert anonymous.status_code == 401
    read_only = api.put("clients/Acme", row, scope="read")
    assert read_only.status_code == 403
    assert "directory:write" in read_only.json()["error"]
    wrong = api.client.delete("/api/directory/clients/Acme", headers={"Authorization": "Bearer ma_nope"})
    assert wrong.status_code == 401
    # A write token cannot read: it was given the one scope
    assert api.client.get("/api/me", headers=api.auth()).status_code == 403
    assert _names(api.store, Client) == []


def test_a_logged_in_browser_can_never_write(api: Api, fast_passwords: None) -> None:
    set_passwords(api.store, [ANNA.email])
    log_in(api.client, ANNA.email)
    assert api.client.get("/api/me").status_code == 200  # the session is valid
    csrf = {"X-CSRF-Token": "anything"}
    attempts = [
        api.client.put("/api/directory/clients/Acme", json={}, headers=csrf),
        api.client.delete("/api/directory/clients/Acme"),
        api.client.post("/api/directory/clients", content='{"name": "Acme"}\n', headers=NDJSON),
        api.client.post("/api/directory/clients/Acme", json={}),
        api.client.put("/api/clients/1", json={}),
    ]
    for response in attempts:
        assert response.status_code in (401, 403, 405), response.text
    assert _names(api.store, Client) == []


def test_without_the_import_rules_the_routes_answer_503(sqlite_store: Store) -> None:
    sqlite_store.directory.apply_users([ANNA])
    with TestClient(create_app(sqlite_store, secret_key="k" * 32)) as client:
        api = Api(sqlite_store, client)
        assert api.put("clients/Acme", {}).status_code == 503


def test_oversized_bodies_are_refused(api: Api) -> None:
    big = {"name": "A", "emails": ["x" * 60 + f"{i}@acme.pl" for i in range(2000)]}
    assert api.put("clients/A", big).status_code == 413


# --- the OpenAPI document -----------------------------------------------------------------------------------------


def _fits(response: Any, path: str, method: str) -> None:
    documented = SCHEMA["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, (path, method, status, response.text)
    answer = documented[status]
    answer = resolve(answer["$ref"]) if "$ref" in answer else answer
    assert errors(response.json(), answer["content"]["application/json"]["schema"]) == [], (path, method, status)


def test_real_answers_fit_the_schema(api: Api) -> None:
    keyed, bulk = "/api/directory/{kind}/{key}", "/api/directory/{kind}"
    email(api.store, "<g@x>", to="jan@acme.pl", codes=("OP-5",))
    puts = [
        api.put("records/OP-5", {"type": "deal", "title": "Five"}),  # 200, with a relink
        api.put("records/OP-5", {"type": "deal", "title": ""}),  # 422
        api.put("records/OP-5", {}, scope="read"),  # 403
        api.client.put("/api/directory/records/OP-5", json={}),  # 401
        api.put("planets/Mars", {}),  # 404
        api.put("clients/A", {"name": "A", "emails": ["x" * 60 + f"{i}@a.pl" for i in range(2000)]}),  # 413
        api.put("users/ewa@example.com", {"name": "Ewa", "role": "team", "team": "Sales"}),  # 200, a new team
    ]
    for response in puts:
        _fits(response, keyed, "put")
    posts = [
        api.bulk("contacts", [{"name": "Jan", "emails": ["jan@acme.pl"]}]),
        api.bulk("contacts", "{\n"),
        api.client.post("/api/directory/contacts", content="{}", headers=api.auth()),
    ]
    for response in posts:
        _fits(response, bulk, "post")
    deletes = [
        api.delete("records/OP-5"),  # 409
        api.delete("records/OP-5?force=yes"),  # 400
        api.delete("records/OP-5?force=true"),  # 200
        api.delete("records/OP-5"),  # 404
        api.delete("users/anna@crm.example.com?force=true"),  # 409, not forceable
    ]
    for response in deletes:
        _fits(response, keyed, "delete")
    statuses = {r.status_code for r in puts + posts + deletes}
    assert statuses == {200, 400, 401, 403, 404, 409, 413, 415, 422}
