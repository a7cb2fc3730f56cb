"""Webhooks: ``[[webhooks]]`` config, the outbox written with each outcome, and delivery to a real HTTP receiver on
127.0.0.1: signed the Standard Webhooks way, retried after a 500, sent again after a killed sender, per endpoint."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from linker.tasks import Outcome, Processor, QueueSettings
from mailassist.build import make_processor
from mailassist.cli import cli
from mailassist.config import ConfigError, load_config, parse_config
from mailassist.webhooks import Deliverer, Endpoint, Notifier, signed_headers, webhook_endpoints
from store import InboundView, PlanWrite, Store, Trust
from store.models import Inbound
from store.shapes import ClientRow, ContactRow, UserRow
from store.webhooks import DeliveryWrite

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
ASSISTANT = "assistant@crm.example.com"
ANNA = "anna.nowak@example.com"
FAST = QueueSettings(max_attempts=1, min_backoff=0.01, max_backoff=0.05)


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each request with the next of ``answers`` (then 200); ``"hang"``
    holds the request until the test ends."""

    def __init__(self) -> None:
        self.answers: list[int | str] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                answer = receiver.answers.pop(0) if receiver.answers else 200
                receiver.arrived.set()
                if answer == "hang":
                    receiver.release.wait(30)
                    return
                assert isinstance(answer, int)
                self.send_response(answer)
                self.send_header("content-length", "5")
                self.end_headers()
                self.wfile.write(b"nope\n" if answer >= 300 else b"ok\r\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def endpoint(url: str, name: str = "crm", events: tuple[str, ...] = ("message.filed",), **kw: Any) -> Endpoint:
    return Endpoint(name=name, url=url, events=frozenset(events), secret=SECRET, **kw)


def queue_delivery(store: Store, ep: Endpoint, event: str = "message.filed", event_id: str = "msg_1") -> int:
    (inbound_id,) = [store.receipts.add_inbound(b"Subject: x\r\n\r\nbody\r\n", mail_from=ANNA, rcpt_tos=[ASSISTANT]).id]
    body = json.dumps({"type": event, "version": 1, "id": event_id, "data": {"receipt_id": inbound_id}})
    store.receipts.mark_processed(
        inbound_id, "linked", outbox=lambda _: [DeliveryWrite(event_id, ep.name, ep.url, event, body, inbound_id)]
    )
    (row,) = store.webhooks.list_deliveries(endpoint=ep.name, limit=1)
    return row.id


# --- config -----------------------------------------------------------------------------------------------------


def block(**kw: Any) -> dict[str, Any]:
    return {"name": "crm", "url": "https://crm.example/hooks", "events": ["message.filed"], "secret": SECRET} | kw


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (block(url="http://crm.example/hooks"), "webhooks[0]: webhook 'crm': url must use https"),
        (block(url="ftp://crm.example/x"), "webhooks[0]: webhook 'crm': url must be an https:// URL"),
        (block(events=["message.sent"]), "webhooks[0].events[0]: Input should be 'message.filed'"),
        (block(events=[]), "webhooks[0].events: List should have at least 1 item"),
        (block(secret=""), "webhooks[0]: webhook 'crm': give exactly one of secret and secret_file"),
        (block(secret_file="s.txt"), "webhooks[0]: webhook 'crm': give exactly one of secret and secret_file"),
        (block(secret="hunter2"), "webhooks[0]: webhook 'crm': secret must start with 'whsec_'"),
        (block(secret="whsec_!!!"), "webhooks[0]: webhook 'crm': secret: the part after 'whsec_' is not base64"),
        (block(secret="whsec_YWJj"), "webhooks[0]: webhook 'crm': secret: the key must be 24 to 64 bytes, got 3"),
        (block(colour="red"), "webhooks[0].colour: unknown key"),
    ],
)
def test_a_bad_webhook_block_is_a_config_error_naming_it(given: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"webhooks": [given]}, source="c.toml")
    assert f"c.toml: {error}" in str(caught.value)


def test_webhook_blocks_need_distinct_names() -> None:
    with pytest.raises(ConfigError, match=r"webhooks\[1\]: webhook 'crm': another \[\[webhooks\]\] block"):
        parse_config({"webhooks": [block(), block()]}, source="c.toml")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/x", "http://localhost/x", "http://[::1]:8/x", "https://a.b/"])
def test_https_or_plain_http_to_loopback(url: str) -> None:
    assert parse_config({"webhooks": [block(url=url)]}).webhooks[0].url == url


def test_a_secret_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET + "\n")
    config = tmp_path / "c.toml"
    config.write_text(
        '[[webhooks]]\nname = "crm"\nurl = "https://crm.example/h"\nevents = ["lead.created"]\nsecret_file = "secret"\n'
    )
    (ep,) = webhook_endpoints(load_config(config))
    assert (ep.secret, ep.events) == (SECRET, frozenset({"lead.created"}))
    (tmp_path / "secret").write_text("not a secret")
    with pytest.raises(ConfigError, match=r"webhooks\[0\]: webhook 'crm': secret_file: .*must start with 'whsec_'"):
        webhook_endpoints(load_config(config))
    (tmp_path / "secret").unlink()
    with pytest.raises(ConfigError, match=r"secret_file: cannot read .*secret: No such file"):
        webhook_endpoints(load_config(config))


# --- signature ----------------------------------------------------------------------------------------------------


def test_signature_matches_the_published_standard_webhooks_vector() -> None:
    # The example of the Standard Webhooks specification (and its reference libraries' tests)
    at = datetime.fromtimestamp(1614265330, UTC)
    headers = signed_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", '{"test": 2432232314}', at
    )
    assert headers["webhook-id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert headers["webhook-timestamp"] == "1614265330"
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# --- the outbox, written with the outcome -------------------------------------------------------------------------


def _config(tmp_path: Path, *blocks: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///unused.db"\nblob_dir = "blobs"\n'
        f'[assistant]\naddresses = ["{ASSISTANT}"]\n[organization]\ndomains = ["example.com"]\n' + "".join(blocks)
    )
    return path


def _block(name: str, url: str, events: list[str], extra: str = "") -> str:
    return f'[[webhooks]]\nname = "{name}"\nurl = "{url}"\nevents = {json.dumps(events)}\nsecret = "{SECRET}"\n{extra}'


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
        _config(
            tmp_path,
            _block("crm", receiver.url, ["message.filed", "lead.created"]),
            _block("audit", receiver.url + "/audit", ["message.ignored"]),
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


# --- delivery -----------------------------------------------------------------------------------------------------


def test_a_500_is_retried_with_backoff_and_the_same_webhook_id(sqlite_store: Store, receiver: Receiver) -> None:
    ep = endpoint(receiver.url, min_backoff=0.2, max_backoff=1)
    delivery_id = queue_delivery(sqlite_store, ep)
    receiver.answers = [500]
    deliverer = Deliverer(sqlite_store, [ep], poll_interval=0.05)
    deliverer.start()
    try:
        wait_for(lambda: sqlite_store.webhooks.get_delivery(delivery_id).status == "sent")  # type: ignore[union-attr]
    finally:
        deliverer.stop()
    row = sqlite_store.webhooks.get_delivery(delivery_id)
    assert row is not None and (row.attempts, row.last_status) == (2, 200)
    first, second = receiver.requests
    assert first[0]["webhook-id"] == second[0]["webhook-id"] == "msg_1"
    assert first[1] == second[1]
    Webhook(SECRET).verify(second[1], second[0])


def test_after_max_attempts_a_delivery_fails_and_can_be_retried_from_the_cli(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = _config(tmp_path, _block("crm", receiver.url, ["message.filed"], "max_attempts = 2\nmin_backoff = 0.01\n"))
    config.write_text(config.read_text().replace("sqlite:///unused.db", "sqlite:///m.db"))
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        (ep,) = webhook_endpoints(load_config(config))
        delivery_id = queue_delivery(store, ep)
        receiver.answers = [503, 500]
        deliverer = Deliverer(store, [ep])
        deliverer.run_once()
        time.sleep(0.05)
        deliverer.run_once()
        row = store.webhooks.get_delivery(delivery_id)
        assert row is not None and (row.status, row.attempts, row.last_status) == ("failed", 2, 500)
        assert row.last_error == "HTTP 500 Internal Server Error: nope"

        listed = CliRunner().invoke(cli, ["--config", str(config), "webhooks", "--failed"])
        assert listed.exit_code == 0, listed.output
        assert f"{delivery_id:>7}" in listed.output and "failed" in listed.output
        assert "(HTTP 500 Internal Server Error: nope)" in listed.output
        assert "-- crm: 0 pending, 0 sent, 1 failed" in listed.output
        as_json = json.loads(CliRunner().invoke(cli, ["--config", str(config), "webhooks", "--json"]).output)
        assert [(r["id"], r["status"], r["attempts"], r["endpoint"]) for r in as_json] == [
            (delivery_id, "failed", 2, "crm")
        ]

        retried = CliRunner().invoke(cli, ["--config", str(config), "webhooks", "retry", str(delivery_id)])
        assert retried.exit_code == 0, retried.output
        assert Deliverer(store, [ep]).run_once() == 1
        assert store.webhooks.get_delivery(delivery_id).status == "sent"  # type: ignore[union-attr]
        again = CliRunner().invoke(cli, ["--config", str(config), "webhooks", "retry", str(delivery_id)])
        assert again.exit_code == 1
        assert f"no failed or pending webhook delivery with id {delivery_id}" in again.output
    finally:
        store.close()


def test_a_delivery_left_in_flight_is_sent_again_when_its_lease_expires(
    sqlite_store: Store, receiver: Receiver
) -> None:
    ep = endpoint(receiver.url, timeout=0.3)
    delivery_id = queue_delivery(sqlite_store, ep)
    # Given a sender that leased the delivery and died before recording anything
    (taken,) = Deliverer(sqlite_store, [ep], lease_margin=0).claim(ep, 1)
    assert taken.id == delivery_id
    other = Deliverer(sqlite_store, [ep], lease_margin=0)
    # Then nobody else sends it while the lease holds, and someone does once it has expired
    assert other.run_once() == 0
    time.sleep(0.4)
    assert other.run_once() == 1
    row = sqlite_store.webhooks.get_delivery(delivery_id)
    assert row is not None and (row.status, row.attempts) == ("sent", 2)
    assert [h["webhook-id"] for h, _ in receiver.requests] == ["msg_1"]


_KILLED_SENDER = """
import sys
from mailassist.webhooks import Deliverer, Endpoint
from store import Store
store = Store(sys.argv[1], sys.argv[2])
store.open()
ep = Endpoint("crm", sys.argv[3], frozenset({"message.filed"}), sys.argv[4], timeout=2.0)
Deliverer(store, [ep], lease_margin=0).run_once()
"""


def test_no_loss_when_the_delivering_process_is_killed_mid_delivery(tmp_path: Path, receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store(url, tmp_path / "blobs")
    store.open()
    try:
        ep = endpoint(receiver.url, timeout=2.0)
        delivery_id = queue_delivery(store, ep)
        # Given a delivering process that has sent the request and waits for the answer
        receiver.answers = ["hang"]
        env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLED_SENDER, url, str(tmp_path / "blobs"), receiver.url, SECRET], env=env
        )
        try:
            assert receiver.arrived.wait(20)
            # When it is killed (kill -9) mid-delivery
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(10)
        row = store.webhooks.get_delivery(delivery_id)
        assert row is not None and (row.status, row.attempts) == ("pending", 1) and row.lease_until is not None
        # Then a surviving sender delivers it once the lease has expired
        survivor = Deliverer(store, [ep], lease_margin=0, poll_interval=0.05)
        survivor.start()
        try:
            wait_for(lambda: store.webhooks.get_delivery(delivery_id).status == "sent")  # type: ignore[union-attr]
        finally:
            survivor.stop()
        assert [h["webhook-id"] for h, _ in receiver.requests] == ["msg_1", "msg_1"]
    finally:
        store.close()


def test_a_hanging_receiver_holds_only_its_own_endpoint(sqlite_store: Store, receiver: Receiver) -> None:
    slow_receiver = Receiver()
    try:
        slow_receiver.answers = ["hang"] * 10
        slow = endpoint(slow_receiver.url, name="slow", timeout=5.0, concurrency=1)
        fast = endpoint(receiver.url, name="fast")
        for i in range(3):
            queue_delivery(sqlite_store, slow, event_id=f"msg_slow{i}")
        fast_ids = [queue_delivery(sqlite_store, fast, event_id=f"msg_fast{i}") for i in range(3)]
        deliverer = Deliverer(sqlite_store, [slow, fast], poll_interval=0.05)
        deliverer.start()
        try:
            # While one request hangs at "slow" (its one slot taken), every "fast" delivery goes through
            wait_for(lambda: all(sqlite_store.webhooks.get_delivery(i).status == "sent" for i in fast_ids))  # type: ignore[union-attr]
            assert len(slow_receiver.requests) == 1
        finally:
            deliverer.stop()
    finally:
        slow_receiver.close()


def test_an_attempt_is_cut_off_at_its_timeout(sqlite_store: Store, receiver: Receiver) -> None:
    ep = endpoint(receiver.url, timeout=0.3, min_backoff=60)
    delivery_id = queue_delivery(sqlite_store, ep)
    receiver.answers = ["hang"]
    started = time.monotonic()
    Deliverer(sqlite_store, [ep]).run_once()
    assert time.monotonic() - started < 2
    row = sqlite_store.webhooks.get_delivery(delivery_id)
    assert row is not None and (row.status, row.attempts, row.last_status) == ("pending", 1, None)
    assert row.last_error == "timed out after 0.3 s"
    assert row.next_attempt_at > datetime.now(UTC)
