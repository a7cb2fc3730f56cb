"""Wiring: build the store, queue, gateway and web from a ``Config`` and run them until SIGTERM or SIGINT.

``serve`` runs everything in one process (the embedded mode); ``smtp``, ``worker`` and ``web`` run one part
each for scale-out. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path

import dns.exception
import dramatiq
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from gateway.admission import AdmissionSettings
from gateway.handler import INTAKE_THREADS, GatewayHandler
from gateway.mailauth import Authenticator, Resolver
from gateway.policy import RecipientPolicy
from gateway.server import GatewayServer, GatewaySettings
from gateway.trust import TrustSettings
from linker.directory import Directory, MemoryDirectory
from linker.settings import IgnoreRule, LinkerSettings
from linker.tasks import Processor, QueueSettings, Sweeper, build_actor, linker_pipeline, make_broker, send_all
from mailassist.config import Config, ConfigError
from mailassist.linkpool import ProcessPool
from store import Store, db
from web.app import create_app

log = structlog.get_logger("mailassist")

#: On stop, how long worker threads may take to finish the message they hold.
WORKER_STOP_SECONDS = 10


class MemoryBrokerError(Exception):
    """``smtp`` or ``worker`` alone cannot share an in-process queue."""


def split_listen(listen: str) -> tuple[str, int]:
    """``"HOST:PORT"`` → ``(host, port)``; IPv6 hosts may be bracketed."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def open_store(config: Config, *, upgrade: bool | None = None) -> Store:
    """Open the store; embedded SQLite migrates itself, PostgreSQL must be at the head revision."""
    store = Store(config.store_url, config.resolve(config.store.blob_dir), inline_max=config.store.inline_max)
    store.open(upgrade=upgrade)
    return store


def queue_settings(config: Config) -> QueueSettings:
    q = config.queue
    return QueueSettings(
        max_attempts=q.max_attempts,
        min_backoff=q.min_backoff,
        max_backoff=q.max_backoff,
        sweep_interval=q.sweep_interval,
        sweep_grace=q.sweep_grace,
    )


def linker_settings(config: Config) -> LinkerSettings:
    """The pipeline's view of the config."""
    return LinkerSettings.build(
        assistant_addresses=config.assistant.addresses,
        organization_domains=config.organization.domains,
        codes=config.codes,
        strip_plus_tags=config.linker.strip_plus_tags,
        extra_free_mail=config.linker.free_mail_domains,
        ignore_rules=[
            IgnoreRule(r.name, r.match, re.compile(r.subject) if r.subject else None) for r in config.linker.ignore
        ],
        automated=config.linker.automated,
        internal=config.linker.internal,
        cpu_limit=config.linker.cpu_limit,
    )


@contextmanager
def open_directory(config: Config) -> Iterator[Directory]:
    """The configured store as a read-only directory, or an empty one when there is no database yet."""
    url = config.store_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        log.warning("no database yet; matching against an empty directory", store=url)
        yield MemoryDirectory()
        return
    store = Store(url, config.resolve(config.store.blob_dir))
    try:
        db.check_schema(store.engine)
        yield store
    finally:
        store.close()


def make_processor(config: Config, store: Store) -> Processor:
    """The actor's work: the real pipeline over the store's directory."""
    pipeline = linker_pipeline(linker_settings(config), store)
    return Processor(store, queue_settings(config), pipeline)


def admission_settings(config: Config) -> AdmissionSettings:
    """``[trust]`` and ``[organization]`` as the gateway's trust decision uses them."""
    t = config.trust
    return AdmissionSettings(
        trust=TrustSettings(org_domains=tuple(config.organization.domains), provider_domains=tuple(t.provider_domains)),
        trusted_relays=tuple(ipaddress.ip_network(n, strict=False) for n in t.trusted_relays),
        authserv_id=t.authserv_id.strip() or None,
    )


def make_authenticator(config: Config) -> Authenticator:
    """DKIM, SPF, DMARC and ARC checks over the configured DNS servers, with their cache."""
    t = config.trust
    try:
        resolver = Resolver(t.nameservers, timeout=t.dns_timeout, cache_size=t.dns_cache_size)
    except dns.exception.DNSException as exc:  # no /etc/resolv.conf, or one without a nameserver
        raise ConfigError(
            f"trust.nameservers: empty, and the system's DNS configuration cannot be used ({exc}); "
            'set it, e.g. nameservers = ["127.0.0.1"]'
        ) from None
    return Authenticator(resolver)


def gateway_settings(config: Config) -> GatewaySettings:
    """``[smtp]`` as the gateway uses it, with the STARTTLS certificate loaded (``ConfigError`` if it cannot be)."""
    s = config.smtp
    host, port = split_listen(s.listen)
    return GatewaySettings(
        host=host,
        port=port,
        hostname=s.hostname,
        max_message_size=s.max_message_size,
        max_connections=s.max_connections,
        command_timeout=s.command_timeout,
        session_timeout=s.session_timeout,
        shutdown_grace=s.shutdown_grace,
        max_concurrent_data=s.max_concurrent_data,
        tls_context=smtp_tls_context(config),
        require_tls=s.require_tls,
        data_timeout=s.data_timeout,
        min_data_rate=s.min_data_rate,
        min_data_rate_grace=s.min_data_rate_grace,
        max_connections_per_ip=s.max_connections_per_ip,
        max_messages_per_minute_per_ip=s.max_messages_per_minute_per_ip,
        max_data_per_ip=s.max_data_per_ip,
        per_ip_exempt=tuple(s.per_ip_exempt),
    )


def smtp_tls_context(config: Config) -> ssl.SSLContext | None:
    """A server context for STARTTLS from ``smtp.tls_cert`` and ``smtp.tls_key``, or ``None`` when no certificate
    is configured. A missing or unreadable file, or a key that does not match, is a ``ConfigError``."""
    s = config.smtp
    if not s.tls_cert:
        return None
    cert = config.resolve(s.tls_cert)
    key = config.resolve(s.tls_key) if s.tls_key else None
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"smtp.{name}: no such file: {path}")
    # TLS 1.2 and up, no client certificates asked for (a sending MTA rarely has one).
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        files = f"{cert} and {key}" if key else str(cert)
        raise ConfigError(
            f"smtp.tls_cert: cannot load a PEM certificate chain and its private key from {files}: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"smtp.tls_cert: cannot read {exc.filename or cert}: {exc.strerror or exc}") from None
    return context


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

    def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.worker is not None:
            # A message still running after this is retried later: its row stays queued for the sweeper.
            self.worker.stop(timeout=int(WORKER_STOP_SECONDS * 1000))
        if self.pool is not None:
            self.pool.stop(WORKER_STOP_SECONDS)
        self.broker.close()


def config_is_memory(broker: dramatiq.Broker) -> bool:
    from dramatiq.brokers.stub import StubBroker  # noqa: PLC0415

    return isinstance(broker, StubBroker)


class _QuietServer(uvicorn.Server):
    # We own signal handling for the whole process; uvicorn's would re-raise SIGTERM after its own stop.
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        with nullcontext():
            yield


def build_web_app(config: Config, store: Store, broker_check: Callable[[], None] | None = None) -> Starlette:
    """The viewer over ``store``, with the session key and cookie policy of ``[web]``."""
    return create_app(
        store,
        broker_check=broker_check,
        # Empty means "not configured": create_app then generates (or reuses) the web-secret file.
        secret_key=config.web.secret_key or None,
        secure_cookies=config.web.secure_cookies,
        hsts_max_age=config.web.hsts_max_age,
    )


def web_server_config(config: Config, app: ASGIApp) -> uvicorn.Config:
    """uvicorn's settings for the viewer: where it listens, and whose ``X-Forwarded-For`` and ``X-Forwarded-Proto``
    it believes (``[web] trusted_proxies`` only; none by default, whatever ``FORWARDED_ALLOW_IPS`` says)."""
    host, port = split_listen(config.web.listen)
    proxies = config.web.trusted_proxies
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=list(proxies),
    )


def _web_server(config: Config, store: Store, broker_check: Callable[[], None] | None) -> _QuietServer:
    return _QuietServer(web_server_config(config, build_web_app(config, store, broker_check)))


def _bind(listen: str) -> socket.socket:
    host, port = split_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"web viewer cannot listen on {listen}: {exc.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")


def _announce(text: str) -> None:
    print(text, flush=True)


async def _run(config: Config, *, smtp: bool, worker: bool, web: bool) -> None:
    store = await asyncio.to_thread(open_store, config)
    queue = Queue(config, store)
    if queue.in_memory and (smtp or worker) and not (smtp and worker):
        raise MemoryBrokerError(
            "queue.broker = 'memory' works only inside 'mailassist serve'; "
            "set queue.broker to a redis URL to run smtp, worker and web as separate processes"
        )
    # One thread per DATA slot: each writes (and fsyncs) its blob while the group commit runs.
    intake_threads = max(INTAKE_THREADS, config.smtp.max_concurrent_data)
    executor = ThreadPoolExecutor(max_workers=intake_threads, thread_name_prefix="intake")
    gateway: GatewayServer | None = None
    web_server: _QuietServer | None = None
    web_task: asyncio.Task[None] | None = None
    try:
        parts = []
        if smtp:
            handler = GatewayHandler(
                intake=store,
                recipients=RecipientPolicy(config.assistant.addresses),
                executor=executor,
                enqueue=queue.send_all,
                max_recipients=config.smtp.max_recipients,
                store_timeout=config.smtp.store_timeout,
                # The in-process queue of `serve` must get its wake-ups in this process: storage stays on threads.
                storage_process=config.smtp.storage_process and not queue.in_memory,
                trust=admission_settings(config),
                authenticator=make_authenticator(config),
            )
            gateway = GatewayServer(handler, gateway_settings(config))
            host, port = await gateway.start()
            parts.append(f"SMTP on {host}:{port}")
        if worker:
            # After the SMTP gateway: its storage process forks from a process with no worker threads yet.
            queue.start_worker()
        if web:
            # Bound here, not by uvicorn, so a busy port is an OSError with one clear line, not sys.exit(3).
            web_socket = _bind(config.web.listen)
            web_server = _web_server(config, store, None if queue.in_memory else queue.check)
            web_task = asyncio.create_task(web_server.serve(sockets=[web_socket]))
            while not web_server.started:
                if web_task.done():
                    await web_task
                    raise OSError(f"web viewer could not start on {config.web.listen}")
                await asyncio.sleep(0.02)
            parts.append(f"web viewer on http://{config.web.listen}/")
        if worker:
            parts.append(f"worker ({config.queue.broker} queue, {queue.threads} threads)")
        _announce("mailassist: " + ", ".join(parts) + f"; store {_redact(store.url)}")
        await _wait_for_signal()
    finally:
        if gateway is not None:
            await gateway.stop()
        if web_server is not None and web_task is not None:
            web_server.should_exit = True
            await web_task
        await asyncio.to_thread(queue.stop)
        executor.shutdown(wait=False, cancel_futures=True)
        store.close()
        log.info("stopped")


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":")[0]
        return f"{scheme}{sep}{user}@{host}"
    return url


def run(config: Config, *, smtp: bool = True, worker: bool = True, web: bool = True) -> None:
    """Run the selected parts until a signal arrives."""
    asyncio.run(_run(config, smtp=smtp, worker=worker, web=web))
    _exit_past_stuck_threads(config.smtp.store_timeout)


def _exit_past_stuck_threads(timeout: float) -> None:
    # Storage threads blocked on a hung database would keep the interpreter from exiting (it joins them).
    # Their clients were answered 451/421 and will retry, so after one more store_timeout it is safe to go.
    deadline = time.monotonic() + timeout
    stuck = [t for t in threading.enumerate() if t.name.startswith("intake") and t.is_alive()]
    for thread in stuck:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in stuck if t.is_alive()]
    if stuck:
        log.warning("exiting with storage threads blocked on the store", threads=len(stuck))
        logging.shutdown()
        os._exit(0)
