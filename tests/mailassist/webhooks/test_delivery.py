"""Webhook delivery: retries with backoff, failure after max attempts, leases, kills, hangs and timeouts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from standardwebhooks import Webhook

from mailassist.cli import cli
from mailassist.config import load_config
from mailassist.webhooks import Deliverer, webhook_endpoints
from store import Store
from tests.mailassist.webhooks.support import SECRET, Receiver, endpoint, queue_delivery, webhook_block, write_config


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


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
    config = write_config(
        tmp_path, webhook_block("crm", receiver.url, ["message.filed"], "max_attempts = 2\nmin_backoff = 0.01\n")
    )
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
