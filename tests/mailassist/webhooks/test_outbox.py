"""The webhook outbox: written in the outcome's transaction, one signed delivery per subscribed endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from linker.tasks import Outcome, Processor, QueueSettings
from mailassist.build import make_processor
from mailassist.config import load_config
from mailassist.webhooks import Deliverer, Notifier, webhook_endpoints
from store import InboundView, PlanWrite, Store, Trust
from store.models import Inbound
from store.shapes import ClientRow, ContactRow, UserRow
from store.webhooks import DeliveryWrite
from tests.mailassist.webhooks.support import ANNA, ASSISTANT, SECRET, Receiver, endpoint, webhook_block, write_config

FAST = QueueSettings(max_attempts=1, min_backoff=0.01, max_backoff=0.05)


def _crm(store: Store) -> Store:
    store.directory.apply_users([UserRow(line=2, email=ANNA, name="Anna Nowak", team="Sales Poland", role="own")])
    store.directory.apply_clients([ClientRow(line=2, name="Acme Logistics", domains=("acme-logistics.test",))])
    store.directory.apply_contacts(
        [ContactRow(line=2, name="Jan Kowalski", emails=("jan.kowalski@acme-logistics.test",), client="Acme Logistics")]
    )
    return store


OFFER = (
    f"From: Anna Nowak <{ANNA}>\r\nTo: Jan Kowalski <jan.kowalski@acme-logistics.test>, "
    "Ewa Nowicka <ewa@newco.test>\r\nSubject: Offer\r\nMessage-ID: <offer-1@example.com>\r\n"
    "Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n\r\nHello\r\n"
).encode()


def test_a_filed_message_reaches_each_subscribed_endpoint_signed(
    store: Store, tmp_path: Path, receiver: Receiver
) -> None:
    # Given two endpoints: "crm" wants filed mail and new leads, "audit" only ignored mail
    config = load_config(
        write_config(
            tmp_path,
            webhook_block("crm", receiver.url, ["message.filed", "lead.created"]),
            webhook_block("audit", receiver.url + "/audit", ["message.ignored"]),
        )
    )
    _crm(store)
    inbound = store.receipts.add_inbound(
        OFFER, mail_from=ANNA, rcpt_tos=[ASSISTANT], trust=Trust(ANNA, "secret-address")
    )
    # When Anna's offer to Jan (a contact) and Ewa (nobody yet) is filed
    make_processor(config, store).process_now(inbound.id)
    assert store.receipts.get_inbound(inbound.id).status == "linked"  # type: ignore[union-attr]
    # Then the outcome's transaction queued one delivery per event and subscribed endpoint, and none for "audit"
    rows = store.webhooks.list_deliveries()
    assert sorted((d.endpoint, d.event, d.status) for d in rows) == [
        ("crm", "lead.created", "pending"),
        ("crm", "message.filed", "pending"),
    ]
    # And once delivered, each request verifies with the Standard Webhooks library, its id the event's id
    assert Deliverer(store, webhook_endpoints(config)).run_once() == 2
    assert {d.status for d in store.webhooks.list_deliveries()} == {"sent"}
    assert len(receiver.requests) == 2
    for headers, body in receiver.requests:
        event = Webhook(SECRET).verify(body, headers)
        assert headers["webhook-id"] == event["id"]
        assert headers["content-type"] == "application/json"
    filed, lead = sorted(receiver.bodies(), key=lambda b: b["type"] != "message.filed")
    assert (filed["type"], filed["version"]) == ("message.filed", 1)
    data = filed["data"]
    assert (data["receipt_id"], data["status"], data["submitter"]) == (inbound.id, "linked", ANNA)
    with Session(store.engine) as session:
        assert data["message_id"] == session.get(Inbound, inbound.id).message_id  # type: ignore[union-attr]
    assert {(k["type"], k["label"], k["reason"]) for k in data["links"]} >= {
        ("client", "Acme Logistics", "address"),
        ("contact", "Jan Kowalski", "address"),
        ("lead", "ewa@newco.test", "new-lead"),
    }
    assert data["new_leads"] == [
        {"address": "ewa@newco.test", "name": "Ewa Nowicka", "company": "Newco", "created": True}
    ]
    assert lead["type"] == "lead.created"
    assert lead["data"]["lead"] == {"address": "ewa@newco.test", "name": "Ewa Nowicka", "company": "Newco"}
    assert lead["data"]["receipt_id"] == inbound.id


def test_ignored_and_failed_outcomes_make_their_events(sqlite_store: Store) -> None:
    ep = endpoint("http://127.0.0.1:9/", events=("message.ignored", "message.failed"))
    ids = [
        sqlite_store.receipts.add_inbound(
            f"Subject: {i}\r\n\r\nx\r\n".encode(), mail_from=ANNA, rcpt_tos=[ASSISTANT]
        ).id
        for i in range(3)
    ]
    outcomes = {ids[0]: Outcome("ignored", "rule newsletters"), ids[1]: Outcome("failed", "no submitter")}

    def pipeline(inbound: InboundView, raw: bytes) -> Outcome:
        if inbound.id == ids[2]:
            raise OSError("directory down")
        return outcomes[inbound.id]

    processor = Processor(sqlite_store, FAST, pipeline, Notifier([ep]))
    for inbound_id in ids:
        processor.process_now(inbound_id)
    got = {(d.inbound_id, d.event): json.loads(d.payload)["data"] for d in sqlite_store.webhooks.list_deliveries()}
    assert set(got) == {(ids[0], "message.ignored"), (ids[1], "message.failed"), (ids[2], "message.failed")}
    assert got[ids[0], "message.ignored"]["reason"] == "rule newsletters"
    assert got[ids[1], "message.failed"]["reason"] == "no submitter"
    assert got[ids[2], "message.failed"]["reason"] == "OSError: directory down"


def test_deliveries_commit_with_the_outcome_or_not_at_all(store: Store) -> None:
    ep = endpoint("http://127.0.0.1:9/")
    inbound_id = store.receipts.add_inbound(b"Subject: x\r\n\r\nbody\r\n", mail_from=ANNA, rcpt_tos=[ASSISTANT]).id

    def broken(_: object) -> list[DeliveryWrite]:
        raise RuntimeError("outbox broke")

    # When writing the deliveries fails, the outcome is not recorded either
    with pytest.raises(RuntimeError):
        store.filing.apply_plan(inbound_id, PlanWrite("ignored", "rule"), outbox=broken)
    assert store.receipts.get_inbound(inbound_id).status == "queued"  # type: ignore[union-attr]
    assert store.webhooks.list_deliveries() == []
    # And a receipt already processed makes no second delivery
    write = DeliveryWrite("msg_a", ep.name, ep.url, "message.ignored", "{}", inbound_id)
    assert store.filing.apply_plan(inbound_id, PlanWrite("ignored", "rule"), outbox=lambda _: [write]).applied
    assert not store.filing.apply_plan(inbound_id, PlanWrite("ignored", "rule"), outbox=lambda _: [write]).applied
    assert not store.receipts.mark_processed(inbound_id, "ignored", outbox=lambda _: [write])
    assert [d.event_id for d in store.webhooks.list_deliveries()] == ["msg_a"]
