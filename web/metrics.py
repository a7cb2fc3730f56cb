"""``GET /metrics``: Prometheus counters and gauges, read from the database at scrape time.

The smtp, worker and web processes may be separate, so nothing is counted in this process's memory: every scrape
reads ``store.metrics.metrics_snapshot()`` (three aggregate queries). Counters follow the inbound rows, so a receipt
that ``mailassist reprocess`` moves from ``failed`` back to ``queued`` lowers ``..._failed_total``: Prometheus
reads that as a counter reset, which ``rate()`` tolerates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from store import MetricsSnapshot, Store, StoreError
from web.headers import NO_STORE

PREFIX = "mailassist"
#: Inbound statuses exposed as ``mailassist_messages_<status>_total``; ``queued`` is the queue depth gauge instead.
FINAL = ("linked", "ignored", "failed")


class StoreCollector:
    """A Prometheus collector over ``store.metrics.metrics_snapshot()``; ``clock`` gives the time for the oldest
    queued age."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def describe(self) -> list[Metric]:
        """Nothing: registering must not query the database (``collect`` does, at each scrape)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The metrics, from one snapshot. Raises ``StoreError`` when the database is unreachable."""
        snapshot = self.store.metrics.metrics_snapshot()
        yield from _smtp_metrics(snapshot)
        yield from _receipt_metrics(snapshot)
        deliveries = GaugeMetricFamily(
            f"{PREFIX}_webhook_deliveries",
            "Webhook deliveries in the outbox by endpoint and status (pending, sent, failed).",
            labels=["endpoint", "status"],
        )
        for (endpoint, status), count in sorted(self.store.webhooks.count_deliveries().items()):
            deliveries.add_metric([endpoint, status], count)
        yield deliveries
        oldest = snapshot.oldest_queued_at
        age = max(0.0, self.clock() - oldest.timestamp()) if oldest is not None else 0.0
        yield GaugeMetricFamily(
            f"{PREFIX}_queue_oldest_age_seconds", "Seconds the oldest queued receipt has waited (0 when none).", age
        )


def _smtp_metrics(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """What the gateway answered: mail accepted, and its refusals by reply code (then by code and reason)."""
    yield CounterMetricFamily(
        f"{PREFIX}_messages_accepted",
        "Mail accepted over SMTP (250): every inbound receipt, whatever became of it.",
        value=sum(snapshot.inbound.values()),
    )
    rejected = CounterMetricFamily(
        f"{PREFIX}_messages_rejected",
        "SMTP refusals by the gateway's policy (recipients and unknown submitters), by reply code.",
        labels=["code", "enhanced"],
    )
    for reply, count in sorted(snapshot.rejections.items()):
        rejected.add_metric(_reply_labels(reply), count)
    yield rejected
    by_reason = CounterMetricFamily(
        f"{PREFIX}_smtp_refusals",
        "SMTP refusals by reply code and reason (unknown_recipient, dkim_not_aligned, data_timeout, ...).",
        labels=["code", "enhanced", "reason"],
    )
    for (reply, reason), count in sorted(snapshot.rejections_by_reason.items()):
        by_reason.add_metric([*_reply_labels(reply), reason or "unknown"], count)
    yield by_reason


def _reply_labels(reply: str) -> list[str]:
    """A reply such as ``550 5.1.1``'s labels: the code and the enhanced code."""
    code, _, enhanced = reply.partition(" ")
    return [code, enhanced]


def _receipt_metrics(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """What became of the receipts: finished per final status, waiting in the queue, and Message-ID collisions."""
    for status in FINAL:
        yield CounterMetricFamily(
            f"{PREFIX}_messages_{status}",
            f"Inbound receipts the linker finished as {status}.",
            value=snapshot.inbound.get(status, 0),
        )
    yield GaugeMetricFamily(
        f"{PREFIX}_queue_depth",
        "Inbound receipts waiting for the linker (status queued).",
        snapshot.inbound.get("queued", 0),
    )
    yield CounterMetricFamily(
        f"{PREFIX}_message_id_collisions",
        "Emails filed apart under a Message-ID that an earlier, different email has (a reused Message-ID).",
        value=snapshot.message_id_collisions,
    )


class MetricsApi:
    """The handler over one registry holding a ``StoreCollector``; ``metrics_routes`` gives it its path."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(store, clock=clock))

    async def metrics(self, request: Request) -> Response:
        """``GET /metrics``: a scrape, in the encoding the scraper asks for."""
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        try:
            body = await run_in_threadpool(encode, self.registry)
        except StoreError:
            # A failed scrape (up == 0) says more than counters that look like zero.
            return PlainTextResponse("database unavailable\n", status_code=503)
        return Response(body, headers={"Content-Type": content_type, **NO_STORE})


def metrics_routes(store: Store, *, clock: Callable[[], float] = time.time) -> list[Route]:
    """``GET /metrics`` in the Prometheus text format (or OpenMetrics, when the scraper asks for it)."""
    api = MetricsApi(store, clock=clock)
    return [Route("/metrics", api.metrics, methods=["GET"], name="metrics")]
