"""``POST /api/ingest``: a raw email with an ``ingest`` token, through the same durable intake as SMTP, answered with
SMTP's policy as JSON; and filed by the real worker path with its source ``api``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from gateway.ingest import Ingestor
from linker.settings import LinkerSettings
from linker.tasks import Processor, QueueSettings, linker_pipeline
from mailassist.build import api_ingest
from store import InboundView, Store, StoreError, StoreUnavailableError
from store.shapes import ClientRow, ContactRow, UserRow
from store.staged import StagedInbound
from tests.conftest import FIXTURES
from tests.web.conftest import log_in, set_passwords
from tests.web.test_api_schema import SCHEMA, errors
from web.app import create_app
from web.auth.passwords import hash_api_token, new_api_token

ANNA = "anna.nowak@example.com"
OFFER = (FIXTURES / "ingest" / "offer_to_acme.eml").read_bytes()
#: Small, so a test can go over it cheaply (SMTP's smtp.max_message_size in production).
MAX_SIZE = 4096
RFC822 = {"Content-Type": "message/rfc822"}
SETTINGS = LinkerSettings.build(assistant_addresses=["assistant@crm.example.com"], organization_domains=["example.com"])


class _DownReceipts:
    """The receipts group, with commits failing as they do when the database is down."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> Sequence[InboundView | StoreError]:
        return [StoreUnavailableError("database unreachable: connection refused")] * len(batch)


class DownStore:
    """The store, with commits failing as they do when the database is down."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.receipts = _DownReceipts(inner.receipts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Api:
    client: TestClient
    store: Store
    tokens: dict[str, str]
    sent: list[str] = field(default_factory=list)

    def post(self, body: bytes, token: str | None = "ingest", headers: dict[str, str] | None = None) -> httpx2.Response:
        auth = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return self.client.post("/api/ingest", content=body, headers={**RFC822, **auth, **(headers or {})})


def _app(store: Any, sent: list[str]) -> Any:
    ingestor = Ingestor(store, enqueue=sent.extend, max_size=MAX_SIZE)
    return create_app(store.inner if isinstance(store, DownStore) else store, secret_key="k" * 32,
                      ingest=api_ingest(ingestor), ingest_max_size=MAX_SIZE)  # fmt: skip


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    store.directory.apply_users([UserRow(2, ANNA, "Anna Nowak", None, "all")])
    store.directory.apply_clients([ClientRow(2, "Acme Logistics", ("acme-logistics.pl",), ())])
    store.directory.apply_contacts(
        [ContactRow(2, "Jan Kowalski", ("jan.kowalski@acme-logistics.pl",), "Acme Logistics")]
    )
    (anna,) = store.directory.find_users_by_addresses([ANNA]).values()
    tokens = {}
    for name, scopes in (("ingest", ("ingest",)), ("read", ("read",)), ("both", ("read", "ingest"))):
        tokens[name] = new_api_token()
        store.auth.add_api_token(anna.id, name, hash_api_token(tokens[name]), scopes=scopes)
    sent: list[str] = []
    with TestClient(_app(store, sent), follow_redirects=False) as client:
        yield Api(client, store, tokens, sent)


def _fits(response: httpx2.Response, schema: str) -> None:
    assert errors(response.json(), SCHEMA["components"]["schemas"][schema]) == [], response.json()


def test_a_message_is_taken_durably_and_filed_by_the_worker_with_source_api(api: Api, fast_passwords: None) -> None:
    # Given Anna's ingest token
    response = api.post(OFFER)

    # Then the receipt is committed, queued, woken, and recorded as handed in by the API for Anna
    assert response.status_code == 202, response.text
    body = response.json()
    _fits(response, "IngestAccepted")
    receipt = api.store.receipts.get_inbound(body["receipt"])
    assert receipt is not None
    assert body == {
        "receipt": receipt.id,
        "status": "queued",
        "duplicate": False,
        "submitter": ANNA,
        "proof": "api",
        "source": "api",
        "reply": f"250 2.0.0 Ok: queued as {receipt.id}",
    }
    assert (receipt.status, receipt.source, receipt.proof, receipt.submitter) == ("queued", "api", "api", ANNA)
    assert api.sent == [receipt.id]

    # When the worker processes it as it does every receipt
    processor = Processor(api.store, QueueSettings(), linker_pipeline(SETTINGS, api.store.directory))
    processor.process_now(receipt.id)

    # Then it is filed on the client, and the message's receipts say where it came from
    after = api.store.receipts.get_inbound(receipt.id)
    assert after is not None and after.status == "linked", after
    messages = api.client.get("/api/messages", headers={"Authorization": f"Bearer {api.tokens['both']}"}).json()
    (item,) = messages["items"]
    assert {(link["type"], link["label"]) for link in item["links"]} >= {("client", "Acme Logistics")}
    detail = api.client.get(f"/api/messages/{item['id']}", headers={"Authorization": f"Bearer {api.tokens['read']}"})
    assert [(r["id"], r["source"], r["proof"]) for r in detail.json()["receipts"]] == [(receipt.id, "api", "api")]
    _fits(detail, "Message")

    # And the viewer shows it: the message's receipts, the ingest log, the CSV export
    set_passwords(api.store, [ANNA])
    log_in(api.client, ANNA)
    tag = '<span class="tag source">api</span>'
    assert tag in api.client.get(f"/messages/{item['id']}").text
    assert tag in api.client.get("/inbound").text
    assert tag in api.client.get(f"/inbound/{receipt.id}").text
    header, row = api.client.get("/messages.csv").text.splitlines()
    assert (header.split(",")[-1], row.split(",")[-1]) == ("sources", "api")


def test_the_same_bytes_twice_are_one_receipt(api: Api) -> None:
    first = api.post(OFFER)
    again = api.post(OFFER)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["receipt"] == first.json()["receipt"]
    assert again.json()["duplicate"] is True
    _fits(again, "IngestAccepted")
    assert len(api.store.receipts.list_inbound()) == 1


def test_a_token_is_needed_with_the_ingest_scope(api: Api) -> None:
    anonymous = api.post(OFFER, token=None)
    read_only = api.post(OFFER, token="read")
    bad = api.client.post("/api/ingest", content=OFFER, headers={**RFC822, "Authorization": "Bearer ma_nope"})

    assert anonymous.status_code == 401
    assert bad.status_code == 401
    assert read_only.status_code == 403
    assert "ingest" in read_only.json()["error"]
    assert api.store.receipts.list_inbound() == []


def test_a_session_never_writes(api: Api, fast_passwords: None) -> None:
    set_passwords(api.store, [ANNA])
    log_in(api.client, ANNA)
    assert api.client.get("/api/me").status_code == 200  # the session reads

    response = api.client.post("/api/ingest", content=OFFER, headers=RFC822)

    assert response.status_code == 401
    assert "never a session" in response.json()["error"]
    assert api.store.receipts.list_inbound() == []


def test_too_big_is_413_with_smtps_552(api: Api) -> None:
    big = OFFER + b"x" * MAX_SIZE

    response = api.post(big)

    assert response.status_code == 413
    _fits(response, "IngestError")
    assert response.json()["code"] == "552"
    assert response.json()["enhanced"] == "5.3.4"
    assert response.json()["limit"] == MAX_SIZE
    assert api.store.receipts.list_inbound() == []


def test_what_smtp_would_refuse_is_422_with_its_reply(api: Api) -> None:
    response = api.post(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

    assert response.status_code == 422
    _fits(response, "IngestError")
    assert (response.json()["code"], response.json()["enhanced"]) == ("554", "5.6.0")
    assert response.json()["reply"].startswith("554 5.6.0 Not an email")
    assert api.store.receipts.list_inbound() == []


def test_only_message_rfc822_is_taken(api: Api) -> None:
    response = api.post(OFFER, headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert api.store.receipts.list_inbound() == []


def test_a_store_that_is_down_is_503_with_retry_after(store: Store, api: Api) -> None:
    sent: list[str] = []
    with TestClient(_app(DownStore(store), sent)) as client:
        response = client.post(
            "/api/ingest", content=OFFER, headers={**RFC822, "Authorization": f"Bearer {api.tokens['ingest']}"}
        )

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    _fits(response, "IngestError")
    assert response.json()["reply"].startswith("451 4.3.0")
    assert sent == []
    assert store.receipts.list_inbound() == []
