"""``GET /metrics``: Prometheus text read from the database, refusals counted through a real SMTP session."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gateway.handler import GatewayHandler
from gateway.policy import RecipientPolicy
from gateway.server import GatewayServer
from store import Store
from tests.gateway.smtp_support import add_user, message
from tests.store.test_metrics_store import seed_inbound
from tests.support import ASSISTANT, USER, gateway_settings
from web.app import create_app
from web.metrics import metrics_routes


def scrape(client: TestClient, **headers: str) -> dict[str, float]:
    """Every sample of ``/metrics`` as ``name{label="value",…}`` → value."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_need_no_login_and_count_every_state(sqlite_store: Store) -> None:
    seed_inbound(sqlite_store, linked=3, queued=2, ignored=1, failed=4)
    sqlite_store.metrics.add_rejections({"550 5.1.1": 2, "550 5.7.1": 1, "452 4.5.3": 5})
    client = TestClient(create_app(sqlite_store, secret_key="k" * 32))

    samples = scrape(client)

    assert samples["mailassist_messages_accepted_total"] == 10
    assert samples["mailassist_messages_linked_total"] == 3
    assert samples["mailassist_messages_ignored_total"] == 1
    assert samples["mailassist_messages_failed_total"] == 4
    assert samples["mailassist_queue_depth"] == 2
    assert 0 <= samples["mailassist_queue_oldest_age_seconds"] < 60
    assert samples["mailassist_message_id_collisions_total"] == 0
    assert samples['mailassist_messages_rejected_total{code="550",enhanced="5.1.1"}'] == 2
    assert samples['mailassist_messages_rejected_total{code="550",enhanced="5.7.1"}'] == 1
    assert samples['mailassist_messages_rejected_total{code="452",enhanced="4.5.3"}'] == 5
    # Counted before reasons were kept: "unknown"
    assert samples['mailassist_smtp_refusals_total{code="452",enhanced="4.5.3",reason="unknown"}'] == 5


def test_the_text_format_by_default_and_openmetrics_on_request(sqlite_store: Store) -> None:
    client = TestClient(create_app(sqlite_store, secret_key="k" * 32))
    plain = client.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE mailassist_messages_accepted_total counter" in plain.text
    assert "# TYPE mailassist_queue_depth gauge" in plain.text
    assert plain.headers["cache-control"] == "no-store"
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")


def test_an_empty_queue_has_no_age(sqlite_store: Store) -> None:
    seed_inbound(sqlite_store, linked=1)
    samples = scrape(TestClient(create_app(sqlite_store, secret_key="k" * 32)))
    assert samples["mailassist_queue_depth"] == 0
    assert samples["mailassist_queue_oldest_age_seconds"] == 0
    assert not any(name.startswith("mailassist_messages_rejected") for name in samples)


def test_the_oldest_queued_age_is_measured_at_scrape_time(sqlite_store: Store) -> None:
    ids = seed_inbound(sqlite_store, linked=1, queued=2)
    oldest = sqlite_store.receipts.get_inbound(ids[1])
    assert oldest is not None
    at = oldest.received_at.timestamp() + 42.5
    app = Starlette(routes=metrics_routes(sqlite_store, clock=lambda: at))

    assert scrape(TestClient(app))["mailassist_queue_oldest_age_seconds"] == 42.5


def test_a_database_that_is_down_fails_the_scrape(sqlite_store: Store) -> None:
    with sqlite_store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE inbound RENAME TO inbound_gone")
    response = TestClient(create_app(sqlite_store, secret_key="k" * 32)).get("/metrics")
    assert response.status_code == 503
    assert "mailassist" not in response.text


# --- a real SMTP session ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def gateway(store: Store) -> Iterator[int]:
    """A gateway over ``store`` on a free port, in a background event loop; yields the port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    executor = ThreadPoolExecutor(4)
    handler = GatewayHandler(
        intake=store, recipients=RecipientPolicy([ASSISTANT]), executor=executor, enqueue=lambda _ids: None
    )
    server = GatewayServer(handler, gateway_settings())
    _host, port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        executor.shutdown()


def test_refusals_in_a_real_smtp_session_reach_the_metrics(sqlite_store: Store) -> None:
    add_user(sqlite_store, USER)
    client = TestClient(create_app(sqlite_store, secret_key="k" * 32))
    with gateway(sqlite_store) as port, smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        # Given a stranger's recipient, a stranger's mail, and one good message
        assert smtp.mail(USER)[0] == 250
        assert smtp.rcpt("someone@elsewhere.test")[0] == 550
        assert smtp.rcpt(ASSISTANT)[0] == 250
        assert smtp.data(message())[0] == 250
        assert smtp.mail("stranger@elsewhere.test")[0] == 250
        assert smtp.rcpt(ASSISTANT)[0] == 250
        code, _text = smtp.data(message(sender="stranger@elsewhere.test"))
        assert code == 550
        # Then the metrics count one accepted, queued message and both refusals by code
        deadline = time.monotonic() + 10
        while True:
            samples = scrape(client)
            if len([name for name in samples if "rejected" in name]) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert samples["mailassist_messages_accepted_total"] == 1
    assert samples["mailassist_queue_depth"] == 1
    assert samples['mailassist_messages_rejected_total{code="550",enhanced="5.1.1"}'] == 1
    assert samples['mailassist_messages_rejected_total{code="550",enhanced="5.7.1"}'] == 1
    # And by reason
    assert samples['mailassist_smtp_refusals_total{code="550",enhanced="5.1.1",reason="unknown_recipient"}'] == 1
    assert samples['mailassist_smtp_refusals_total{code="550",enhanced="5.7.1",reason="unknown_submitter"}'] == 1


def test_webhook_deliveries_are_counted_by_endpoint_and_status(sqlite_store: Store) -> None:
    from tests.mailassist.webhooks.support import endpoint, queue_delivery

    crm, chat = endpoint("https://crm.example/hooks"), endpoint("https://chat.example/hooks", name="chat")
    queue_delivery(sqlite_store, crm, event_id="msg_1")
    queue_delivery(sqlite_store, crm, event_id="msg_2")
    sent = queue_delivery(sqlite_store, chat, event_id="msg_3")
    sqlite_store.webhooks.mark_delivery_sent(sent, http_status=204)
    client = TestClient(create_app(sqlite_store, secret_key="k" * 32))

    samples = scrape(client)

    assert samples['mailassist_webhook_deliveries{endpoint="crm",status="pending"}'] == 2
    assert samples['mailassist_webhook_deliveries{endpoint="chat",status="sent"}'] == 1
    assert 'mailassist_webhook_deliveries{endpoint="chat",status="pending"}' not in samples
