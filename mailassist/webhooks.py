"""Webhooks: the ``[[webhooks]]`` endpoints, the events an outcome makes (written to the store's outbox in the
outcome's own transaction), and the delivery thread that signs and POSTs them, at least once, with retries.

Nothing here runs inside linking: the processor only adds outbox rows; a slow or dead receiver holds at most its
own endpoint's ``concurrency`` delivery threads, each for at most its ``timeout``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from standardwebhooks import Webhook

from linker.model import Link
from linker.tasks import Outcome
from mailassist.config import Config, ConfigError, check_webhook_secret
from mailassist.config_fields import from_section
from store import ApplyResult, InboundView, Store
from store.webhooks import DeliveryView, DeliveryWrite

log = structlog.get_logger("mailassist.webhooks")

#: The payload's ``version``: raised when a field changes meaning or goes away (new fields do not raise it).
PAYLOAD_VERSION = 1
#: A leased delivery is due again this long after its attempt's timeout (its sender was killed).
LEASE_MARGIN = 30.0
#: Seconds between looks at the outbox for due deliveries.
POLL_INTERVAL = 1.0
#: Bytes of a receiver's answer read (and the start of it kept as the error of a failed attempt).
MAX_ANSWER = 64 * 1024


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A ``[[webhooks]]`` block, its secret read."""

    name: str
    url: str
    events: frozenset[str]
    secret: str
    timeout: float = 10.0
    max_attempts: int = 8
    min_backoff: float = 10.0
    max_backoff: float = 3600.0
    concurrency: int = 2

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones: doubling, capped."""
        return float(min(self.max_backoff, self.min_backoff * 2 ** max(0, attempts - 1)))


def webhook_endpoints(config: Config) -> list[Endpoint]:
    """The configured endpoints; a ``secret_file`` that cannot be read or holds no valid secret is a ``ConfigError``."""
    endpoints = []
    for i, w in enumerate(config.webhooks):
        secret = w.secret
        if w.secret_file:
            path = config.resolve(w.secret_file)
            where = f"webhooks[{i}]: webhook {w.name!r}: secret_file"
            try:
                secret = path.read_text(encoding="utf-8").strip()
                check_webhook_secret(secret)
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
            except ValueError as exc:
                raise ConfigError(f"{where}: {path}: {exc}") from None
        endpoints.append(from_section(w, Endpoint, events=frozenset(w.events), secret=secret))
    return endpoints


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    import base64  # noqa: PLC0415

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# --- events: what an outcome reports ------------------------------------------------------------------------------


def _link(link: Link) -> dict[str, Any]:
    """A link as ``mailassist explain`` shows it."""
    out: dict[str, Any] = {"type": link.type, "id": link.id, "label": link.label, "reason": link.reason}
    if link.thread_message is not None:
        out["from_message"] = {"id": link.thread_message, "message_id": link.thread_message_id}
    return out


def event_data(inbound: InboundView, outcome: Outcome, result: ApplyResult | None) -> dict[str, Any]:
    """What every event about this receipt says: the receipt, its status and reason, and (when it was filed) the
    email, its links with their reasons and its new leads, as ``explain`` shows them."""
    plan = outcome.plan
    created = set(result.leads_created) if result is not None else set()
    data: dict[str, Any] = {
        "receipt_id": inbound.id,
        "message_id": result.message_id if result is not None else None,
        "status": outcome.status,
        "reason": outcome.reason,
        "submitter": inbound.submitter,
        "received_at": inbound.received_at.isoformat(),
    }
    if plan is not None:
        original = plan.original
        data |= {
            "kind": plan.kind,
            "direction": plan.direction,
            "subject": original.subject if original is not None else None,
            "message_id_header": original.message_id if original is not None else None,
            "links": [_link(k) for k in plan.links] if outcome.status == "linked" else [],
            "new_leads": [
                {"address": n.address, "name": n.name, "company": n.company, "created": n.address in created}
                for n in plan.new_leads
            ]
            if outcome.status == "linked"
            else [],
        }
    return data


def outcome_events(
    inbound: InboundView, outcome: Outcome, result: ApplyResult | None
) -> list[tuple[str, dict[str, Any]]]:
    """(event type, data) for each event the outcome makes."""
    data = event_data(inbound, outcome, result)
    if outcome.status == "ignored":
        return [("message.ignored", data)]
    if outcome.status == "failed":
        return [("message.failed", data)]
    if outcome.status != "linked":
        return []
    events: list[tuple[str, dict[str, Any]]] = [("message.filed", data)]
    leads = {n["address"]: n for n in data.get("new_leads", [])}
    for address in result.leads_created if result is not None else ():
        lead = leads.get(address, {"address": address, "name": None, "company": None})
        events.append(
            (
                "lead.created",
                {
                    "receipt_id": inbound.id,
                    "message_id": data["message_id"],
                    "submitter": inbound.submitter,
                    "lead": {"address": address, "name": lead["name"], "company": lead["company"]},
                },
            )
        )
    return events


def payload(event_id: str, event: str, data: dict[str, Any], at: datetime) -> str:
    """The versioned JSON body of one event."""
    body = {"type": event, "version": PAYLOAD_VERSION, "id": event_id, "timestamp": at.isoformat(), "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


class Notifier:
    """The processor's ``notify``: one delivery per event and subscribed endpoint, for the outbox."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints = tuple(endpoints)

    def __call__(self, inbound: InboundView, outcome: Outcome, result: ApplyResult | None) -> list[DeliveryWrite]:
        now = datetime.now(UTC)
        out = []
        for event, data in outcome_events(inbound, outcome, result):
            wanted = [e for e in self.endpoints if event in e.events]
            if not wanted:
                continue
            # One id per event, the same on every attempt and endpoint: the receiver's idempotency key.
            event_id = "msg_" + secrets.token_hex(12)
            body = payload(event_id, event, data, now)
            out += [DeliveryWrite(event_id, e.name, e.url, event, body, inbound.id) for e in wanted]
        return out


# --- delivery ----------------------------------------------------------------------------------------------------


def signed_headers(secret: str, event_id: str, body: str, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers for ``body``: ``webhook-signature`` is ``v1,`` and the base64 HMAC-SHA256 of
    ``{id}.{timestamp}.{body}`` under the secret's key."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
        "content-type": "application/json",
        "user-agent": "mailassist-webhooks/1",
    }


class DeliveryError(Exception):
    """An attempt the receiver did not accept; ``status`` is its HTTP status, ``None`` without an answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` and return the 2xx status; ``DeliveryError`` otherwise. The whole attempt (connect, send,
    answer) is cut off after ``timeout`` seconds, so a receiver trickling bytes cannot hold it longer. Redirects
    are not followed."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    fired = threading.Event()
    watchdog = threading.Timer(timeout, _abort, (conn, fired))
    watchdog.start()
    try:
        conn.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
        answer = conn.getresponse()
        text = answer.read(MAX_ANSWER)
        if not 200 <= answer.status < 300:
            excerpt = " ".join(text[:200].decode("utf-8", "replace").split())
            raise DeliveryError(
                f"HTTP {answer.status} {answer.reason}" + (f": {excerpt}" if excerpt else ""), answer.status
            )
        return answer.status
    except DeliveryError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        if fired.is_set() or isinstance(exc, TimeoutError):
            raise DeliveryError(f"timed out after {timeout:g} s") from None
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    finally:
        watchdog.cancel()
        conn.close()


def _abort(conn: http.client.HTTPConnection, fired: threading.Event) -> None:
    fired.set()
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


Sender = Callable[[str, bytes, dict[str, str], float], int]


class Deliverer:
    """Sends due outbox rows: per endpoint, at most ``concurrency`` at once, each leased while it is sent. A row
    whose sender dies (a killed worker) keeps its lease until it expires, then is sent again: at least once."""

    def __init__(
        self,
        store: Store,
        endpoints: Sequence[Endpoint],
        *,
        poll_interval: float = POLL_INTERVAL,
        lease_margin: float = LEASE_MARGIN,
        send: Sender = post,
    ) -> None:
        self.store = store
        self.endpoints = {e.name: e for e in endpoints}
        self.poll_interval = poll_interval
        self.lease_margin = lease_margin
        self.send = send
        self._busy = dict.fromkeys(self.endpoints, 0)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pools: dict[str, ThreadPoolExecutor] = {}

    def deliver(self, delivery: DeliveryView) -> str | None:
        """One attempt at a claimed delivery; records and returns its new status."""
        endpoint = self.endpoints[delivery.endpoint]
        at = datetime.now(UTC)
        headers = signed_headers(endpoint.secret, delivery.event_id, delivery.payload, at)
        bound = log.bind(delivery=delivery.id, endpoint=endpoint.name, event=delivery.event, attempt=delivery.attempts)
        try:
            status = self.send(endpoint.url, delivery.payload.encode(), headers, endpoint.timeout)
        except Exception as exc:
            http_status = exc.status if isinstance(exc, DeliveryError) else None
            error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
            retry_at = None
            if delivery.attempts < endpoint.max_attempts:
                retry_at = datetime.now(UTC) + timedelta(seconds=endpoint.backoff(delivery.attempts))
            new = self.store.webhooks.mark_delivery_attempt_failed(
                delivery.id, error, http_status=http_status, retry_at=retry_at
            )
            if new == "failed":
                bound.error("webhook delivery failed", error=error)
            else:
                bound.warning("webhook attempt failed; will retry", error=error, retry_at=retry_at)
            return new
        self.store.webhooks.mark_delivery_sent(delivery.id, http_status=status)
        bound.info("webhook delivered", http_status=status)
        return "sent"

    def claim(self, endpoint: Endpoint, limit: int) -> list[DeliveryView]:
        """Lease up to ``limit`` due deliveries of ``endpoint``."""
        return self.store.webhooks.claim_deliveries(
            endpoint.name, limit=limit, lease=endpoint.timeout + self.lease_margin
        )

    def run_once(self) -> int:
        """Send every due delivery now, on this thread (tests, ``mailassist webhooks``); how many were attempted."""
        done = 0
        for endpoint in self.endpoints.values():
            while batch := self.claim(endpoint, endpoint.concurrency):
                for delivery in batch:
                    self.deliver(delivery)
                    done += 1
        return done

    def tick(self) -> int:
        """Hand due deliveries to each endpoint's free threads; how many were handed out."""
        handed = 0
        for endpoint in self.endpoints.values():
            with self._lock:
                free = endpoint.concurrency - self._busy[endpoint.name]
            if free <= 0:
                continue
            for delivery in self.claim(endpoint, free):
                with self._lock:
                    self._busy[endpoint.name] += 1
                self._pools[endpoint.name].submit(self._deliver_in_pool, delivery)
                handed += 1
        return handed

    def _deliver_in_pool(self, delivery: DeliveryView) -> None:
        try:
            self.deliver(delivery)
        except Exception as exc:  # the store is down: the lease runs out and the row is sent again
            log.warning("webhook delivery not recorded", delivery=delivery.id, error=f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._busy[delivery.endpoint] -= 1
            self._wake.set()

    def start(self) -> None:
        """Deliver in the background until ``stop``."""
        self._pools = {
            name: ThreadPoolExecutor(e.concurrency, thread_name_prefix=f"webhook-{name}")
            for name, e in self.endpoints.items()
        }
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                log.warning("webhook poll failed; will try again", error=f"{type(exc).__name__}: {exc}")
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def stop(self) -> None:
        """Stop polling; attempts under way are abandoned (their rows are sent again once their lease expires)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
