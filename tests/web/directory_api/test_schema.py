"""The directory sync API's real answers fit its OpenAPI document."""

from __future__ import annotations

from typing import Any

from tests.store.test_relink import email
from tests.web.directory_api.support import Api
from tests.web.test_api_schema import SCHEMA, errors, resolve


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
