"""The directory sync API's bulk JSON Lines: all rows or none, every bad line named."""

from __future__ import annotations

import json

from store.models import Contact, Record
from tests.store.test_relink import email, links
from tests.web.directory_api.support import Api, names


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
    assert names(api.store, Contact) == ["Jan", "Ola"]


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
    assert names(api.store, Record) == []
    # Rows fine alone but clashing with each other (the store's checks) are per line as well
    clash = api.bulk("records", body.splitlines()[0] + "\n" + body.splitlines()[4])
    assert clash.status_code == 422
    assert clash.json()["problems"] == [{"line": 2, "error": "duplicate record 'OP-1' (also on line 1)"}]
    assert names(api.store, Record) == []


def test_bulk_wants_json_lines_and_rows(api: Api) -> None:
    wrong_type = api.client.post("/api/directory/clients", content='{"name": "A"}', headers=api.auth())
    assert wrong_type.status_code == 415
    empty = api.bulk("clients", "\n\n")
    assert empty.status_code == 422 and empty.json()["problems"][0]["error"].startswith("no rows")
    assert api.bulk("planets", [{"name": "Mars"}]).status_code == 404
