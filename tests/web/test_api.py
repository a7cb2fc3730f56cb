"""The JSON API over the store's read verbs: bearer tokens, role visibility by guessed ids, filters, paging, errors.

Every test runs over ``build_world`` (two teams, nine emails) on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from store import Store
from tests.store.world import ADA, ANNA, EVA, JAN, LEAD, PAWEL, PDF, SOLO, USERS, VISIBLE, World, build_world
from web.app import create_app
from web.auth.passwords import hash_api_token, new_api_token

NOT_FOUND = {"error": "not found"}


class Caller:
    """A test client plus one bearer token per user of the world."""

    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def get(self, path: str, as_: str = ADA.email, **params: Any) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {self.tokens[as_]}"}
        return self.client.get(path, params=params, headers=headers)

    def ok(self, path: str, as_: str = ADA.email, **params: Any) -> Any:
        response = self.get(path, as_, **params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        return response.json()

    def all_items(self, path: str, as_: str = ADA.email, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged list, following ``next`` to the end."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(100):
            page = self.ok(path, as_, **params, **({"after": after} if after else {}))
            items += page["items"]
            after = page["next"]
            if after is None:
                return items
        raise AssertionError("next never ran out")

    def ids(self, path: str, as_: str = ADA.email, **params: Any) -> set[int]:
        """The ids of a paged list, checking that no page repeats one."""
        ids = [item["id"] for item in self.all_items(path, as_, **params)]
        assert len(ids) == len(set(ids)), ids
        return set(ids)


@pytest.fixture
def world(store: Store) -> World:
    return build_world(store)


@pytest.fixture
def api(store: Store, world: World) -> Iterator[Caller]:
    tokens = {}
    for user in USERS:
        tokens[user.email] = new_api_token()
        store.auth.add_api_token(world.users[user.email], "tests", hash_api_token(tokens[user.email]))
    with TestClient(create_app(store, secret_key="k" * 32), follow_redirects=False) as client:
        yield Caller(client, tokens)


# --- tokens --------------------------------------------------------------------------------------------------------


def test_a_token_is_needed_and_a_revoked_one_no_longer_works(store: Store, world: World, api: Caller) -> None:
    assert api.get("/api/messages").status_code == 200

    anonymous = api.client.get("/api/messages")
    forged = api.client.get("/api/messages", headers={"Authorization": "Bearer ma_forged"})
    basic = api.client.get("/api/messages", headers={"Authorization": "Basic YTpi"})

    for response in (anonymous, forged, basic):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        assert "error" in response.json()
        assert response.headers["www-authenticate"].startswith("Bearer")
    (token,) = store.auth.list_api_tokens(ADA.email)
    assert store.auth.revoke_api_token(token.id)
    revoked = api.get("/api/messages")
    assert revoked.status_code == 401
    assert revoked.json() == forged.json()


def test_every_route_needs_the_token(api: Caller, world: World) -> None:
    for path in ("/api/messages", f"/api/messages/{world.m['deal']}", "/api/inbound", "/api/leads", "/api/dashboard"):
        assert api.client.get(path).status_code == 401, path
    for kind, entity_id in (("clients", world.acme), ("contacts", world.piotr), ("leads", world.lead)):
        assert api.client.get(f"/api/{kind}/{entity_id}").status_code == 401
        assert api.client.get(f"/api/{kind}/{entity_id}/history").status_code == 401


def test_me_names_the_token_owner(api: Caller) -> None:
    me = api.ok("/api/me", PAWEL.email)
    assert (me["email"], me["role"], me["team"]) == (PAWEL.email, "own", "PL")


# --- visibility ------------------------------------------------------------------------------------------------------


def test_each_role_lists_exactly_what_it_may_see_page_by_page(api: Caller, world: World) -> None:
    for email, names in VISIBLE.items():
        assert api.ids("/api/messages", email, limit=2) == world.ids(*names), email


def test_guessed_message_ids_read_like_missing_ones(api: Caller, world: World) -> None:
    missing = api.get("/api/messages/10000")
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
    for email, names in VISIBLE.items():
        found = set()
        for guess in range(1, max(world.m.values()) + 5):
            response = api.get(f"/api/messages/{guess}", email)
            if response.status_code == 200:
                found.add(guess)
                continue
            # Given an id that exists but is invisible, the answer is byte for byte the one for no such id.
            assert response.status_code == 404
            assert response.content == missing.content
            assert response.headers["content-type"] == missing.headers["content-type"]
        assert found == world.ids(*names), email


def test_history_shows_only_visible_mail(api: Caller, world: World) -> None:
    acme = f"/api/clients/{world.acme}/history"
    assert api.ids(acme) == world.ids("to_piotr", "deal", "client_direct")
    assert api.ids(acme, ANNA.email) == world.ids("to_piotr", "deal", "client_direct")
    assert api.ids(acme, PAWEL.email) == world.ids("deal")
    assert api.ids(acme, JAN.email) == set()  # the client exists: an empty timeline, not a 404
    assert api.ids(f"/api/contacts/{world.karel}/history", EVA.email) == world.ids("beta", "twice")
    assert api.ids(f"/api/records/{world.deal}/history") == world.ids("deal")
    assert api.ids(f"/api/leads/{world.lead}/history", JAN.email) == world.ids("cc_jan")
    # A lead is seen only with its mail (or by its owner): to Paweł it does not exist
    assert api.get(f"/api/leads/{world.lead}/history", PAWEL.email).json() == NOT_FOUND


def test_inbound_exists_only_for_role_all(api: Caller) -> None:
    for user in (ANNA, PAWEL, SOLO):
        response = api.get("/api/inbound", user.email)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    # Checked before the parameters: a bad one does not reveal that the route exists either.
    assert api.get("/api/inbound", PAWEL.email, status="bogus").status_code == 404
    items = api.ok("/api/inbound")["items"]
    assert len(items) == 10  # nine emails, one sent in twice
    assert {item["status"] for item in items} == {"linked"}
    assert api.ok("/api/inbound", status="queued")["items"] == []
    assert len(api.ok("/api/inbound", status="linked", limit=3)["items"]) == 3
    received = [item["received_at"] for item in items]
    assert received == sorted(received, reverse=True)


def test_dashboard_counts_per_role(api: Caller) -> None:
    ada, anna = api.ok("/api/dashboard"), api.ok("/api/dashboard", ANNA.email)
    assert ada["last_7d"]["inbound"] == {"queued": 0, "linked": 10, "ignored": 0, "failed": 0}
    assert ada["recent_failures"] == []
    assert sum(ada["last_24h"]["messages"].values()) == 9
    assert (anna["last_7d"]["inbound"], anna["recent_failures"]) == (None, None)
    assert sum(anna["last_24h"]["messages"].values()) == len(VISIBLE[ANNA.email])
    assert ada["last_7d"]["leads"] == 1
    assert ada["unresolved_codes"] == 1
    assert anna["unresolved_codes"] == 0


# --- filters and paging --------------------------------------------------------------------------------------------


def test_filters_are_the_pages_filters(api: Caller, world: World) -> None:
    assert api.ids("/api/messages", direction="incoming") == world.ids(
        "client_direct", "beta", "eva_alias_anna", "twice"
    )
    assert api.ids("/api/messages", kind="forward") == world.ids("beta")
    assert api.ids("/api/messages", unmatched="1") == world.ids("unmatched", "solo")
    assert api.ids("/api/messages", client=world.acme) == world.ids("to_piotr", "deal", "client_direct")
    assert api.ids("/api/messages", EVA.email, client=world.beta) == world.ids("beta", "twice")
    assert api.ids("/api/messages", JAN.email, q="Zapytanie") == world.ids("cc_jan")
    assert api.ids("/api/messages", JAN.email, q="flotowa") == set()
    assert api.ids("/api/messages", submitter=world.users[PAWEL.email]) == world.ids("deal", "unmatched", "twice")
    assert api.ids("/api/messages", **{"from": "2026-03-04", "to": "2026-03-06"}) == world.ids(
        "client_direct", "beta", "cc_jan"
    )
    assert api.ids(f"/api/clients/{world.beta}/history", kind="forward") == world.ids("beta")


def test_paging_follows_next_to_the_end_without_repeats(api: Caller, world: World) -> None:
    first = api.ok("/api/messages", limit=4)
    assert len(first["items"]) == 4 and first["next"]
    every = api.all_items("/api/messages", limit=4)
    assert [item["id"] for item in every] == [item["id"] for item in api.ok("/api/messages", limit=200)["items"]]
    dates = [item["date"] for item in every]
    assert dates == sorted(dates, reverse=True)
    assert api.ok("/api/messages", limit=200)["next"] is None


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"kind": "carrier-pigeon"}, "kind"),
        ({"client": "acme"}, "client"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "to"),
        ({"unmatched": "maybe"}, "unmatched"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"after": "not-a-cursor"}, "after"),
    ],
)
def test_a_bad_filter_is_400_naming_the_parameter(api: Caller, params: dict[str, str], param: str) -> None:
    response = api.get("/api/messages", **params)
    assert response.status_code == 400
    assert response.json()["param"] == param
    assert response.json()["error"]


def test_bad_paging_elsewhere_is_400_too(api: Caller, world: World) -> None:
    assert api.get("/api/inbound", status="bogus").json()["param"] == "status"
    assert api.get("/api/leads", limit="x").json()["param"] == "limit"
    assert api.get("/api/leads", after="x").json()["param"] == "after"
    # A cursor of the message list is no cursor of the lead list.
    cursor = api.ok("/api/messages", limit=1)["next"]
    assert api.get("/api/leads", after=cursor).status_code == 400
    assert api.get(f"/api/clients/{world.acme}/history", direction="up").json()["param"] == "direction"


# --- shapes ----------------------------------------------------------------------------------------------------------


def test_list_items_have_the_documented_shape(api: Caller, world: World) -> None:
    (item,) = api.ok("/api/messages", ANNA.email, q="flotowa")["items"]
    assert item == {
        "id": world.m["to_piotr"],
        "subject": "Oferta flotowa",
        "date": "2026-03-02T09:30:00+00:00",
        "direction": "outgoing",
        "kind": "bcc",
        "submitter": ANNA.name,
        "from": {"name": "Anna Nowak", "address": ANNA.email},
        "links": [
            {"type": "contact", "id": world.piotr, "label": "Piotr Wiśniewski", "reason": "address"},
            {"type": "user", "id": world.users[ANNA.email], "label": ANNA.name, "reason": "submitter"},
        ],
    }


def test_message_detail(api: Caller, world: World) -> None:
    got = api.ok(f"/api/messages/{world.m['to_piotr']}", ANNA.email)
    assert (got["subject"], got["date"], got["submitter"]) == ("Oferta flotowa", "2026-03-02T09:30:00+00:00", ANNA.name)
    assert got["participants"][1] == {
        "role": "to",
        "address": "piotr@acme-logistics.pl",
        "name": "Piotr Wiśniewski",
        "internal": False,
        "match": {"type": "contact", "id": world.piotr, "label": "Piotr Wiśniewski", "via": "contact"},
    }
    assert got["participants"][0]["match"] is None
    pdf, logo = got["attachments"]
    assert (pdf["filename"], pdf["size"], pdf["inline"]) == ("offer.pdf", len(PDF), False)
    assert pdf["url"] == f"/messages/{world.m['to_piotr']}/attachments/{pdf['id']}"
    assert (logo["content_id"], logo["inline"]) == ("<logo@acme>", True)
    (receipt,) = got["receipts"]
    assert (receipt["mail_from"], receipt["status"], receipt["sender_user"]) == (ANNA.email, "linked", ANNA.name)
    assert receipt["received_at"].endswith("+00:00")
    assert "Wiśniewski" in got["body_text"]
    assert got["body_html_url"] is None  # no HTML body; raw HTML is never inlined
    assert "body_html" not in got
    assert got["raw_url"] is None  # the raw source is for role all
    assert api.ok(f"/api/messages/{world.m['to_piotr']}")["raw_url"] == f"/messages/{world.m['to_piotr']}/raw.eml"


def test_codes_say_whether_they_resolved(api: Caller, world: World) -> None:
    got = api.ok(f"/api/messages/{world.m['beta']}", JAN.email)
    assert got["codes"] == [
        {"code": "OP-200", "record_id": world.warehouse, "resolved": True},
        {"code": "XX-9", "record_id": None, "resolved": False},
    ]


def test_directory_details(api: Caller, world: World) -> None:
    client = api.ok(f"/api/clients/{world.acme}", JAN.email)  # the directory is not secret
    assert (client["name"], client["domains"], client["emails"]) == (
        "Acme Logistics",
        ["acme-logistics.pl"],
        ["biuro@acme-logistics.pl"],
    )
    assert client["contacts"] == [{"id": world.piotr, "name": "Piotr Wiśniewski"}]
    assert client["records"] == [
        {
            "id": world.deal,
            "code": "OP-123",
            "type": "deal",
            "title": "Fleet renewal",
            "client": {"id": world.acme, "name": "Acme Logistics"},
        }
    ]
    contact = api.ok(f"/api/contacts/{world.wolf}")
    assert (contact["name"], contact["client"], contact["emails"]) == ("Lone Wolf", None, ["wolf@example.org"])
    record = api.ok(f"/api/records/{world.warehouse}")
    assert (record["code"], record["client"]["name"]) == ("OP-200", "Beta s.r.o.")
    lead = api.ok(f"/api/leads/{world.lead}", JAN.email)
    assert (lead["address"], lead["owner"]["name"], lead["first_message_id"]) == (LEAD, ANNA.name, world.m["cc_jan"])
    assert api.get(f"/api/leads/{world.lead}", PAWEL.email).json() == NOT_FOUND  # none of its mail is his


def test_leads_list(api: Caller, world: World) -> None:
    page = api.ok("/api/leads", limit=1)
    assert [lead["id"] for lead in page["items"]] == [world.lead]
    assert page["next"] is None
    assert page["items"][0]["converted_contact"] is None
    assert page["items"][0]["created_at"].endswith("+00:00")


# --- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/clients/10000",
        "/api/clients/10000/history",
        "/api/contacts/10000",
        "/api/contacts/10000/history",
        "/api/leads/10000",
        "/api/leads/10000/history",
        "/api/records/10000",
        "/api/records/10000/history",
        "/api/messages/99999999999999999999",  # past any integer column: no database error
        "/api/messages/-1",
        "/api/messages/abc",
        "/api/nothing-here",
        "/api/",
    ],
)
def test_missing_things_are_a_json_404(api: Caller, path: str) -> None:
    response = api.get(path)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_api_is_read_only(api: Caller, method: str) -> None:
    headers = {"Authorization": f"Bearer {api.tokens[ADA.email]}"}
    response = api.client.request(method, "/api/messages", headers=headers, json={"subject": "forged"})
    assert response.status_code == 405
    assert response.json() == {"error": "method not allowed"}
    assert response.headers["allow"] == "GET, HEAD"


def test_data_is_never_cached(api: Caller) -> None:
    assert api.get("/api/messages").headers["cache-control"] == "no-store"


def test_a_receipt_shows_who_submitted_it_and_what_proved_it(api: Caller, world: World, store: Store) -> None:
    from store import Trust
    from tests.store.world import file_message

    checks = [
        {"method": "dkim", "result": "pass", "domain": "example.com", "selector": "mail", "detail": ""},
        {"method": "spf", "result": "softfail", "domain": "example.com", "selector": None, "detail": "~all"},
    ]
    auth = {"route": "sender", "via": "From", "detail": "dkim pass d=example.com s=mail", "source": "checked"}
    message_id = file_message(
        store,
        submitter=(ANNA.email, world.users[ANNA.email]),
        key="<trusted@example.com>",
        subject="Signed offer",
        date=None,
        trust=Trust(ANNA.email, "dkim", {**auth, "checks": checks}),
    )

    (receipt,) = api.ok(f"/api/messages/{message_id}")["receipts"]

    assert (receipt["submitter"], receipt["proof"], receipt["sender_user"]) == (ANNA.email, "dkim", ANNA.name)
    assert receipt["auth"] == {**auth, "checks": checks}
