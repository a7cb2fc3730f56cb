"""Build and run the aiosmtpd server on our own event loop, with connection and time limits and a clean stop."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP

from gateway import policy
from gateway.commands import parse_path, protocol_names
from gateway.data import read_data
from gateway.handler import GatewayHandler

log = structlog.get_logger("gateway")

#: Longest wait for a DATA slot before "451 4.3.2" (clients wait 2 minutes for the 354, RFC 5321 §4.5.3.2.2).
DATA_SLOT_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    host: str
    port: int
    hostname: str
    max_message_size: int
    max_connections: int
    command_timeout: float
    session_timeout: float
    shutdown_grace: float
    #: DATA commands receiving or storing at once; more wait for a slot (see ``DATA_SLOT_WAIT``).
    max_concurrent_data: int = 8


class _Refuse(asyncio.Protocol):
    """Answers one 421 line and hangs up: used when over the connection limit or shutting down."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self.reply.encode("ascii") + b"\r\n")
        transport.close()


class _Session(SMTP):
    """aiosmtpd's protocol, plus registration with the server for limits and shutdown, and a cheaper start."""

    def __dir__(self) -> list[str]:
        return protocol_names(type(self))

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd's own costs ~250 us per MAIL/RCPT; ``parse_path`` gives the same answers (tests/gateway).
        return parse_path(arg, self.local_part_limit)

    def __init__(self, server: GatewayServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gateway = server
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self._gateway.sessions.add(self)
            self._deadline = self.loop.call_later(self._gateway.settings.session_timeout, self._expire)

    def connection_lost(self, error: Exception | None) -> None:
        self._gateway.sessions.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(error)

    async def smtp_DATA(self, arg: str) -> None:
        # Counted from the DATA command to the final reply, so a stop waits for mail still arriving.
        self._gateway.data_started()
        try:
            await self._data(arg)
        finally:
            self._gateway.data_finished()

    async def _data(self, arg: str) -> None:
        """aiosmtpd's DATA, with a bounded number at once and the message read into one buffer (``gateway.data``)."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        slots = self._gateway.data_slots
        try:
            await asyncio.wait_for(slots.acquire(), min(DATA_SLOT_WAIT, self._gateway.settings.command_timeout))
        except TimeoutError:
            log.warning("smtp data refused: every DATA slot busy", limit=self._gateway.settings.max_concurrent_data)
            await self.push(policy.TOO_BUSY)
            return
        try:
            await self._receive()
        finally:
            slots.release()

    async def _receive(self) -> None:
        assert self.envelope is not None
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            read = await read_data(self._reader, self.data_size_limit)
        except asyncio.IncompleteReadError:
            log.info("smtp connection lost during DATA")
            self._writer.close()
            return
        except asyncio.CancelledError:
            self._writer.close()
            raise
        if read.too_big:
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push("552 Error: Too much mail data")
            return
        # One object for both: with decode_data=False aiosmtpd would make them the same bytes too.
        self.envelope.original_content = self.envelope.content = read.message  # type: ignore[assignment]
        del read
        status = await self._call_handler_hook("DATA")
        # A fresh envelope drops the message before the next command, and before the slot is released.
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    def _expire(self) -> None:
        log.info("smtp session time limit", peer=str(self.session.peer) if self.session else None)
        self.hang_up(policy.SESSION_TOO_LONG)

    def hang_up(self, reply: str) -> None:
        """Say ``reply`` and close, unless the transport is already gone."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(reply.encode("ascii") + b"\r\n")
            transport.close()


class GatewayServer:
    """One listening socket; ``start`` and ``stop`` are called on the running event loop."""

    def __init__(self, handler: GatewayHandler, settings: GatewaySettings) -> None:
        self.handler = handler
        self.settings = settings
        self.sessions: set[_Session] = set()
        self._server: asyncio.base_events.Server | None = None
        self._stopping = False
        self._in_data = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.data_slots = asyncio.Semaphore(settings.max_concurrent_data)

    def data_started(self) -> None:
        """A session entered DATA."""
        self._in_data += 1
        self._idle.clear()

    def data_finished(self) -> None:
        """A session answered its DATA."""
        self._in_data -= 1
        if self._in_data == 0:
            self._idle.set()

    def _protocol(self) -> asyncio.BaseProtocol:
        if self._stopping:
            return _Refuse(policy.SHUTTING_DOWN)
        if len(self.sessions) >= self.settings.max_connections:
            log.warning("smtp connection refused: limit reached", limit=self.settings.max_connections)
            return _Refuse(policy.TOO_MANY_CONNECTIONS)
        return _Session(
            self,
            self.handler,
            data_size_limit=self.settings.max_message_size,
            hostname=self.settings.hostname,
            ident="mailassist ESMTP",
            timeout=self.settings.command_timeout,
            enable_SMTPUTF8=True,
            decode_data=False,
        )

    async def start(self) -> tuple[str, int]:
        """Listen; return the bound address (port 0 picks a free port)."""
        loop = asyncio.get_running_loop()
        self.handler.start()
        try:
            self._server = await loop.create_server(
                self._protocol,
                host=self.settings.host,
                port=self.settings.port,
                family=socket.AF_UNSPEC,
                reuse_address=True,
            )
        except OSError as exc:
            where = f"{self.settings.host}:{self.settings.port}"
            raise OSError(exc.errno, f"SMTP cannot listen on {where}: {os.strerror(exc.errno or 0)}") from None
        host, port = self._server.sockets[0].getsockname()[:2]
        log.info("smtp listening", host=host, port=port, max_message_size=self.settings.max_message_size)
        return host, port

    async def stop(self) -> None:
        """Stop accepting, let in-flight DATA finish (up to ``shutdown_grace``), then close idle sessions."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        in_flight = self._in_data
        try:
            await asyncio.wait_for(self._idle.wait(), self.settings.shutdown_grace)
            finished = await self.handler.wait_enqueued(self.settings.shutdown_grace)
        except TimeoutError:
            finished = False
        log.info("smtp stopping", in_flight=in_flight, finished=finished, open_sessions=len(self.sessions))
        for session in list(self.sessions):
            session.hang_up(policy.SHUTTING_DOWN)
        if self._server is not None:
            await self._server.wait_closed()
