"""``/api/schema`` against the app: the same routes, every filter, and real responses that fit the schemas.

The validator below is a small subset of JSON Schema (type, enum, required, properties, items, oneOf, $ref,
date-time) that is strict where the document is lenient: a property the schema does not name is an error, so a new
field cannot reach clients undocumented.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from store import Store
from tests.store.world import ADA, ANNA, PAWEL, World, build_world
from web.app import create_app
from web.auth.passwords import hash_api_token, new_api_token
from web.filters import FILTER_PARAMS
from web.openapi import openapi_schema

SCHEMA = openapi_schema()
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def resolve(ref: str) -> dict[str, Any]:
    node: Any = SCHEMA
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


def errors(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """What is wrong with ``value`` under ``schema`` (empty when it fits)."""
    if "$ref" in schema:
        return errors(value, resolve(schema["$ref"]), where)
    if "oneOf" in schema:
        fits = [option for option in schema["oneOf"] if not errors(value, option, where)]
        return [] if len(fits) == 1 else [f"{where}: {len(fits)} of oneOf fit {value!r}"]
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, kind) for kind in kinds):
            return [f"{where}: {value!r} is not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if schema.get("format") == "date-time" and isinstance(value, str) and datetime.fromisoformat(value).tzinfo is None:
        found.append(f"{where}: {value!r} has no offset")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        found += [f"{where}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                found += errors(item, properties[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                found += errors(item, extra, f"{where}.{key}")
            else:
                found.append(f"{where}: {key!r} is not in the schema")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += errors(item, schema["items"], f"{where}[{i}]")
    return found


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def api_paths(store: Store) -> set[str]:
    """The app's ``/api/`` routes as OpenAPI paths (``{id:int}`` → ``{id}``), the catch-all 404 left out; each
    method a route takes (HEAD aside) is documented under its path."""
    app = create_app(store, secret_key="k" * 32)
    paths = set()
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/") and route.name != "api_not_found":
            assert route.methods is not None
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            documented = set(SCHEMA["paths"].get(path, {}))
            assert {m.lower() for m in route.methods} - {"head"} <= documented, (path, route.methods)
            paths.add(path)
    return paths


def operation(path: str) -> dict[str, Any]:
    """The path's GET, or its one other operation (``POST /api/ingest``)."""
    methods = SCHEMA["paths"][path]
    found = methods["get"] if "get" in methods else next(iter(methods.values()))
    assert isinstance(found, dict)
    return found


#: The paths that read (every one but the write routes).
GET_PATHS = [path for path, methods in SCHEMA["paths"].items() if "get" in methods]


def parameter_names(path: str) -> list[str]:
    return [resolve(p["$ref"])["name"] for p in operation(path).get("parameters", [])]


# --- the document --------------------------------------------------------------------------------------------------


def test_every_api_route_is_documented_and_nothing_else(sqlite_store: Store) -> None:
    assert set(SCHEMA["paths"]) == api_paths(sqlite_store)


def test_it_is_openapi_3_1_with_a_bearer_scheme() -> None:
    assert SCHEMA["openapi"].startswith("3.1.")
    assert SCHEMA["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token starting with `ma_`",
    }
    assert SCHEMA["security"] == [{"bearerAuth": []}]
    assert operation("/api/schema")["security"] == []  # the one public path


def test_every_reference_resolves() -> None:
    for ref in set(refs(SCHEMA)):
        assert ref.startswith("#/components/"), ref
        resolve(ref)


def test_message_lists_take_every_filter_of_the_page() -> None:
    assert parameter_names("/api/messages") == [*FILTER_PARAMS, "after", "limit"]
    for kind in ("client", "contact", "lead", "record"):
        own = set(parameter_names(f"/api/{kind}s/{{id}}/history"))
        assert own == {"id", "after", "limit", *FILTER_PARAMS} - {kind}, kind


def test_path_parameters_are_declared() -> None:
    for path in SCHEMA["paths"]:
        assert set(re.findall(r"\{(\w+)\}", path)) <= set(parameter_names(path)), path


def test_message_items_have_exactly_the_issues_keys() -> None:
    item = SCHEMA["components"]["schemas"]["MessageItem"]
    keys = {"id", "subject", "date", "direction", "kind", "submitter", "from", "links"}
    assert set(item["required"]) == set(item["properties"]) == keys
    assert set(resolve(item["properties"]["links"]["items"]["$ref"])["required"]) == {"type", "id", "label", "reason"}


# --- real responses against it -------------------------------------------------------------------------------------


@pytest.fixture
def world(sqlite_store: Store) -> World:
    return build_world(sqlite_store)


@pytest.fixture
def client(sqlite_store: Store, world: World) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tokens = {}
    for email in (ADA.email, ANNA.email, PAWEL.email):
        tokens[email] = new_api_token()
        sqlite_store.auth.add_api_token(world.users[email], "tests", hash_api_token(tokens[email]))
    with TestClient(create_app(sqlite_store, secret_key="k" * 32)) as c:
        yield c, tokens


def test_the_schema_is_served_without_a_token(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _tokens = client
    response = c.get("/api/schema")
    assert response.status_code == 200
    assert response.json() == SCHEMA


def test_real_responses_fit_the_schema(client: tuple[TestClient, dict[str, str]], world: World) -> None:
    c, tokens = client
    ids = {"messages": world.m["to_piotr"], "clients": world.acme, "contacts": world.piotr}
    ids |= {"leads": world.lead, "records": world.deal}
    checked = 0
    for path in GET_PATHS:
        if path == "/api/schema":
            continue
        kind = path.split("/")[2]
        url = path.replace("{id}", str(ids.get(kind, 0)))
        documented = operation(path)["responses"]
        for email, token in tokens.items():
            response = c.get(url, headers={"Authorization": f"Bearer {token}"})
            status = str(response.status_code)
            assert status in documented, (url, email, status)
            answer = documented[status]
            answer = resolve(answer["$ref"]) if "$ref" in answer else answer
            schema = answer["content"]["application/json"]["schema"]
            assert errors(response.json(), schema) == [], (url, email)
            checked += status == "200"
    # Every path, every role: inbound is 404 for two of them, and the lead (its page and history) for one
    assert checked >= 3 * (len(GET_PATHS) - 2) - 2


def test_error_answers_fit_the_schema(client: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = client
    auth = {"Authorization": f"Bearer {tokens[ADA.email]}"}
    error = SCHEMA["components"]["schemas"]["Error"]
    for response in (
        c.get("/api/messages"),
        c.get("/api/messages", params={"kind": "x"}, headers=auth),
        c.get("/api/messages/10000", headers=auth),
    ):
        assert response.status_code in (400, 401, 404)
        assert errors(response.json(), error) == []


def test_the_validator_catches_what_it_should() -> None:
    item = {"$ref": "#/components/schemas/MessageItem"}
    good: dict[str, Any] = {
        "id": 1,
        "subject": None,
        "date": "2026-03-02T09:30:00+00:00",
        "direction": "incoming",
        "kind": "bcc",
        "submitter": None,
        "from": {"name": None, "address": "a@b.c"},
        "links": [],
    }
    assert errors(good, item) == []
    assert errors({**good, "extra": 1}, item) == ["$: 'extra' is not in the schema"]
    assert errors({**good, "kind": "fax"}, item) == ["$.kind: 'fax' not in ['bcc', 'forward', 'redirect']"]
    assert errors({**good, "date": "2026-03-02T09:30:00"}, item) == ["$.date: '2026-03-02T09:30:00' has no offset"]
    assert errors({**good, "id": True}, item) == ["$.id: True is not ['integer']"]
    missing = dict(good)
    del missing["links"]
    assert errors(missing, item) == ["$: missing 'links'"]
