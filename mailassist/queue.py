"""The queue: the broker (in-process, or Redis with batched sends), the ``link_inbound`` actor over it, a worker
and the sweeper. The broker is only a wake-up call: the sweeper re-sends receipts still ``queued``."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import dramatiq
import structlog
from dramatiq.brokers.stub import StubBroker

from linker.tasks import QueueSettings, build_actor
from mailassist.build import make_processor, queue_settings
from mailassist.config import Config
from mailassist.linkpool import ProcessPool
from mailassist.webhooks import Deliverer, webhook_endpoints
from store import Store
from store.models import utcnow

log = structlog.get_logger("mailassist")

#: On stop, how long worker threads may take to finish the message they hold.
WORKER_STOP_SECONDS = 10


class Queue:
    """The broker, the ``link_inbound`` actor, and (where this process works) a worker and the sweeper."""

    def __init__(self, config: Config, store: Store) -> None:
        self.settings = queue_settings(config)
        self.broker = make_broker(config.queue.broker)
        processes = config.queue.worker_processes
        # Linking in child processes, if configured (made when the worker starts); a thread waits on each one.
        self.pool = ProcessPool(config, processes) if processes else None
        self.actor = build_actor(
            self.broker, make_processor(config, store), run=self.pool.process if self.pool is not None else None
        )
        self.store = store
        # Two threads per linker process: when a child finishes a message, the next is already waiting at the pool.
        self.threads = max(config.queue.worker_threads, 2 * processes)
        self.worker: dramatiq.Worker | None = None
        self.sweeper: Sweeper | None = None
        #: Where this process works, it also sends the webhook outbox (``[[webhooks]]``).
        self.webhooks = webhook_endpoints(config)
        self.deliverer: Deliverer | None = None

    @property
    def in_memory(self) -> bool:
        return config_is_memory(self.broker)

    def send(self, inbound_id: str) -> None:
        """Wake a worker for ``inbound_id``."""
        self.actor.send(inbound_id)

    def send_all(self, inbound_ids: Sequence[str]) -> None:
        """Wake workers for each of ``inbound_ids`` (over Redis, in one round trip)."""
        send_all(self.actor, inbound_ids)

    def check(self) -> None:
        """Raise unless the broker answers (for ``/healthz``)."""
        client = getattr(self.broker, "client", None)
        if client is not None:
            client.ping()

    def start_worker(self) -> None:
        """Start worker threads and the sweeper. In memory mode nothing else can hold queued work, so the
        first sweep re-sends every ``queued`` row at once (mail accepted before a crash)."""
        if self.pool is not None:
            self.pool.start()
        self.worker = dramatiq.Worker(self.broker, queues={self.actor.queue_name}, worker_threads=self.threads)
        self.worker.start()
        self.sweeper = Sweeper(self.store, self.send, self.settings)
        self.sweeper.start(first_grace=0 if self.in_memory else None)
        if self.webhooks:
            self.deliverer = Deliverer(self.store, self.webhooks)
            self.deliverer.start()

    def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.deliverer is not None:
            self.deliverer.stop()
        if self.worker is not None:
            # A message still running after this is retried later: its row stays queued for the sweeper.
            self.worker.stop(timeout=int(WORKER_STOP_SECONDS * 1000))
        if self.pool is not None:
            self.pool.stop(WORKER_STOP_SECONDS)
        self.broker.close()


def config_is_memory(broker: dramatiq.Broker) -> bool:
    return isinstance(broker, StubBroker)


def make_broker(url: str) -> dramatiq.Broker:
    """``memory`` gives an in-process broker; anything else is a Redis URL."""
    if url == "memory":
        return StubBroker()
    from dramatiq.brokers.redis import RedisBroker  # noqa: PLC0415 - only where Redis is configured

    broker: dramatiq.Broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=15
    )
    return pipelined_sends(broker)


def pipelined_sends(broker: dramatiq.Broker) -> dramatiq.Broker:
    """Let ``send_all`` send a batch to this Redis broker in one round trip (other brokers are left as they are)."""
    scripts = getattr(broker, "scripts", None)
    if isinstance(scripts, dict) and "dispatch" in scripts:
        scripts["dispatch"] = _PipelinedDispatch(scripts["dispatch"], broker.client)  # type: ignore[attr-defined]
    return broker


class _PipelinedDispatch:
    """Stands in for the Redis broker's ``dispatch`` script (every enqueue, ack and fetch is one call of it). Inside
    ``pipelined()``, this thread's calls are queued on a Redis pipeline and sent together when it ends; everywhere
    else, and on every other thread (a worker's fetches and acks), they go to Redis at once, as before.

    A batch of sends then costs one round trip, not one each: per message, a round trip on the gateway's send
    thread cost more CPU than committing the message (``bench/smtp_intake.py``)."""

    def __init__(self, script: Any, client: Any) -> None:
        self.script = script
        self.client = client
        self._local = threading.local()

    def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        calls = getattr(self._local, "calls", None)
        if calls is None or client is not None:
            return self.script(keys=keys, args=args, client=client)
        calls.append((tuple(keys or ()), tuple(args or ())))
        return None

    @contextlib.contextmanager
    def pipelined(self) -> Iterator[None]:
        """Queue this thread's calls until the block ends, then send them in one go (raises if that fails)."""
        from redis.exceptions import NoScriptError  # noqa: PLC0415 - only with a Redis broker

        calls: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
        self._local.calls = calls
        try:
            yield
        finally:
            self._local.calls = None
        try:
            self._send(calls)
        except NoScriptError:  # Redis lost its scripts (a restart, SCRIPT FLUSH): none of these ran
            self.script.sha = self.script.registered_client.script_load(self.script.script)
            self._send(calls)

    def _send(self, calls: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        # EVALSHA straight on the pipeline: through the script object, the pipeline would first ask Redis whether
        # the script exists (SCRIPT EXISTS), a second round trip per batch.
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(self.script.sha, len(keys), *keys, *args)
        pipe.execute()


def send_all(actor: dramatiq.Actor[..., Any], args: Sequence[str]) -> None:
    """``actor.send(arg)`` for each of ``args``; over Redis, in one round trip."""
    dispatch = getattr(actor.broker, "scripts", {}).get("dispatch")
    with (
        dispatch.pipelined() if len(args) > 1 and isinstance(dispatch, _PipelinedDispatch) else contextlib.nullcontext()
    ):
        for arg in args:
            actor.send(arg)


class Sweeper:
    """Re-sends ``queued`` receipts nobody touched for ``grace`` seconds, at start and every ``interval``."""

    def __init__(self, store: Store, send: Callable[[str], object], settings: QueueSettings) -> None:
        self.store = store
        self.send = send
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self, *, grace: float | None = None) -> int:
        """One pass; returns how many receipts were re-sent. Broker errors end the pass quietly."""
        grace = self.settings.sweep_grace if grace is None else grace
        ids = self.store.receipts.list_stale_queued(older_than=utcnow() - timedelta(seconds=grace))
        sent: list[str] = []
        try:
            for inbound_id in ids:
                self.send(inbound_id)
                sent.append(inbound_id)
        except Exception as exc:
            log.warning(
                "sweeper cannot reach the queue; will try again", error=f"{type(exc).__name__}: {exc}", pending=len(ids)
            )
        finally:
            self.store.receipts.touch_inbound(sent)
        for inbound_id in sent:
            log.info("sweeper re-sent", inbound_id=inbound_id)
        return len(sent)

    def start(self, *, first_grace: float | None = None) -> None:
        """Sweep in a background thread: once now (with ``first_grace``), then every ``interval`` seconds."""
        self._thread = threading.Thread(target=self._run, args=(first_grace,), name="sweeper", daemon=True)
        self._thread.start()

    def _run(self, first_grace: float | None) -> None:
        grace = first_grace
        while True:
            try:
                self.sweep(grace=grace)
            except Exception as exc:
                log.warning("sweep failed; will try again", error=f"{type(exc).__name__}: {exc}")
            grace = None
            if self._stop.wait(self.settings.sweep_interval):
                return

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
