"""Wiring: build the store, queue, gateway, web and IMAP pollers from a ``Config`` and run them until SIGTERM or
SIGINT.

``serve`` runs everything in one process (the embedded mode); ``smtp``, ``worker``, ``web`` and ``poller`` run one
part each for scale-out. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from gateway.handler import GatewayHandler
from gateway.intake import INTAKE_THREADS
from gateway.policy import RecipientPolicy
from gateway.server import GatewayServer
from mailassist import heap, importer
from mailassist.build import (
    admission_settings,
    api_ingest,
    gateway_settings,
    linker_settings,
    make_authenticator,
    make_ingestor,
    open_store,
    split_listen,
)
from mailassist.config import Config
from mailassist.imap import Mailbox, Pollers, mailboxes
from mailassist.queue import Queue
from store import Store
from web.app import create_app
from web.directory_api import DirectoryRules

log = structlog.get_logger("mailassist")


class MemoryBrokerError(Exception):
    """``smtp``, ``worker`` or ``poller`` alone cannot share an in-process queue."""


class _QuietServer(uvicorn.Server):
    # We own signal handling for the whole process; uvicorn's would re-raise SIGTERM after its own stop.
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        with nullcontext():
            yield


def directory_rules(config: Config) -> DirectoryRules:
    """The CSV import's rules for the directory sync API: ``[codes]`` and the free-mail domains of ``[linker]``."""
    return DirectoryRules(
        parse_row=functools.partial(importer.json_row, codes=config.code_types),
        natural_key=importer.natural_key,
        relink_scope=importer.relink_scope,
        free_mail_domains=linker_settings(config).free_mail_domains,
    )


def build_web_app(
    config: Config,
    store: Store,
    broker_check: Callable[[], None] | None = None,
    enqueue: Callable[[Sequence[str]], None] | None = None,
) -> Starlette:
    """The viewer over ``store``, with the session key and cookie policy of ``[web]``; with ``enqueue``, also
    ``POST /api/ingest`` (``smtp.max_message_size`` at most)."""
    ingest = api_ingest(make_ingestor(config, store, enqueue)) if enqueue is not None else None
    return create_app(
        store,
        broker_check=broker_check,
        # Empty means "not configured": create_app then generates (or reuses) the web-secret file.
        secret_key=config.web.secret_key or None,
        secure_cookies=config.web.secure_cookies,
        hsts_max_age=config.web.hsts_max_age,
        ingest=ingest,
        ingest_max_size=config.smtp.max_message_size,
        directory=directory_rules(config),
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


def _web_server(
    config: Config, store: Store, broker_check: Callable[[], None] | None, enqueue: Callable[[Sequence[str]], None]
) -> _QuietServer:
    return _QuietServer(web_server_config(config, build_web_app(config, store, broker_check, enqueue)))


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


@dataclass
class _Running:
    """What ``_run`` started, for its ``finally`` to stop (``None``: not started), and the announcement's parts."""

    gateway: GatewayServer | None = None
    pollers: Pollers | None = None
    web_server: _QuietServer | None = None
    web_task: asyncio.Task[None] | None = None
    parts: list[str] = field(default_factory=list)


async def _run(config: Config, *, smtp: bool, worker: bool, web: bool, poller: bool = False) -> None:
    # Read before anything starts: a tls_ca_file that cannot be loaded is a config error, not a poller's.
    boxes = mailboxes(config) if poller else []
    # On this thread, before anything is served: the storage process forks from a process with no other thread
    # alive (a thread of asyncio.to_thread's executor would outlive the call).
    store = open_store(config)
    queue = Queue(config, store)
    if queue.in_memory and (smtp or bool(boxes)) != worker:
        store.close()
        raise _memory_broker_error()
    # One thread per DATA slot: each writes (and fsyncs) its blob while the group commit runs.
    intake_threads = max(INTAKE_THREADS, config.smtp.max_concurrent_data)
    executor = ThreadPoolExecutor(max_workers=intake_threads, thread_name_prefix="intake")
    running = _Running()
    try:
        await _start_parts(running, config, store, queue, executor, smtp=smtp, worker=worker, web=web, boxes=boxes)
        heap.settle()  # start-up's objects are never garbage: the collector stops walking them
        _announce("mailassist: " + ", ".join(running.parts) + f"; store {_redact(store.url)}")
        await _wait_for_signal()
    finally:
        await _stop_parts(running, queue)
        executor.shutdown(wait=False, cancel_futures=True)
        store.close()
        log.info("stopped")


async def _start_parts(
    running: _Running,
    config: Config,
    store: Store,
    queue: Queue,
    executor: ThreadPoolExecutor,
    *,
    smtp: bool,
    worker: bool,
    web: bool,
    boxes: Sequence[Mailbox],
) -> None:
    """Start the selected parts in the order the storage process's fork needs, recording each in ``running`` as it
    starts (so a failure stops what did)."""
    if smtp:
        running.gateway = GatewayServer(_gateway_handler(config, store, queue, executor), gateway_settings(config))
        host, port = await running.gateway.start()
        running.parts.append(f"SMTP on {host}:{port}")
    if worker:
        # After the SMTP gateway: its storage process forks from a process with no worker threads yet.
        queue.start_worker()
    if boxes:
        # After the SMTP gateway too (the fork).
        running.pollers = _start_pollers(config, store, queue, boxes)
    if web:
        running.web_server = _web_server(config, store, None if queue.in_memory else queue.check, queue.send_all)
        running.web_task = await _start_web(running.web_server, config.web.listen)
        running.parts.append(f"web viewer on http://{config.web.listen}/")
    if worker:
        running.parts.append(f"worker ({config.queue.broker} queue, {queue.threads} threads)")
    if boxes:
        running.parts.append(f"IMAP pollers for {', '.join(b.source for b in boxes)}")


def _gateway_handler(config: Config, store: Store, queue: Queue, executor: ThreadPoolExecutor) -> GatewayHandler:
    """The SMTP hooks of ``[smtp]``, storing through ``executor`` and waking ``queue``'s workers."""
    return GatewayHandler(
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


async def _stop_parts(running: _Running, queue: Queue) -> None:
    """Stop what ``_start_parts`` started, and the queue: the pollers first, while the store and the queue are still
    there for the message each holds."""
    if running.pollers is not None:
        await asyncio.to_thread(running.pollers.stop)
    if running.gateway is not None:
        await running.gateway.stop()
    if running.web_server is not None and running.web_task is not None:
        running.web_server.should_exit = True
        await running.web_task
    await asyncio.to_thread(queue.stop)


async def _start_web(server: _QuietServer, listen: str) -> asyncio.Task[None]:
    """Serve the viewer on ``listen``; the task, once it has started."""
    # Bound here, not by uvicorn, so a busy port is an OSError with one clear line, not sys.exit(3).
    task = asyncio.create_task(server.serve(sockets=[_bind(listen)]))
    while not server.started:
        if task.done():
            await task
            raise OSError(f"web viewer could not start on {listen}")
        await asyncio.sleep(0.02)
    return task


def _memory_broker_error() -> MemoryBrokerError:
    """In-memory, whoever puts mail in (SMTP, the pollers) must be in the process whose worker takes it out."""
    return MemoryBrokerError(
        "queue.broker = 'memory' works only inside 'mailassist serve'; "
        "set queue.broker to a redis URL to run smtp, worker, poller and web as separate processes"
    )


def _start_pollers(config: Config, store: Store, queue: Queue, boxes: Sequence[Mailbox]) -> Pollers:
    """A thread per mailbox, each handing its mail to an intake of its own that wakes ``queue``'s workers."""
    pollers = Pollers(store, boxes, lambda: make_ingestor(config, store, queue.send_all))
    pollers.start()
    return pollers


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":")[0]
        return f"{scheme}{sep}{user}@{host}"
    return url


def run(config: Config, *, smtp: bool = True, worker: bool = True, web: bool = True, poller: bool = True) -> None:
    """Run the selected parts until a signal arrives (``poller``: the ``[[sources.imap]]`` pollers, if any)."""
    asyncio.run(_run(config, smtp=smtp, worker=worker, web=web, poller=poller))
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
