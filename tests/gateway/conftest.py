"""The gateway's tests share one fixture: a gateway on a real port, in an event loop of its own."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.handler import GatewayHandler
from gateway.policy import RecipientPolicy
from gateway.server import GatewayServer
from tests.support import gateway_settings

ASSISTANT = "assistant@crm.example.com"


@dataclass
class Running:
    server: GatewayServer
    port: int
    loop: asyncio.AbstractEventLoop
    enqueued: list[str] = field(default_factory=list)

    def client(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)


@pytest.fixture
def run_gateway() -> Iterator[Callable[..., Running]]:
    """Start a gateway on a free port in a background event loop; stopped at teardown."""
    started: list[tuple[Running, threading.Thread, ThreadPoolExecutor]] = []

    def start(intake: Any, *, enqueue: Callable[[str], None] | None = None, **overrides: Any) -> Running:
        settings = gateway_settings(**overrides.pop("settings", {}))
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        executor = ThreadPoolExecutor(4)
        enqueued: list[str] = []
        handler = GatewayHandler(
            intake=intake,
            recipients=RecipientPolicy([ASSISTANT]),
            executor=executor,
            enqueue=enqueue or enqueued.extend,
            max_recipients=overrides.pop("max_recipients", 5),
            storage_process=overrides.pop("storage_process", False),
            trust=overrides.pop("trust", None),
            authenticator=overrides.pop("authenticator", None),
        )
        server = GatewayServer(handler, settings)
        _host, port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        running = Running(server, port, loop, enqueued)
        started.append((running, thread, executor))
        return running

    yield start
    for running, thread, executor in started:
        if not running.server._stopping:
            running.stop()
        running.loop.call_soon_threadsafe(running.loop.stop)
        thread.join(10)
        running.loop.close()
        executor.shutdown()
