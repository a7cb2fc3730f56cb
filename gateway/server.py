"""Build and run the aiosmtpd server on our own event loop: one listening socket, the connection limits (server-wide
and per client address) checked before a session starts (``gateway.session``), and a clean stop."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import structlog

from gateway import policy
from gateway.handler import GatewayHandler
from gateway.peers import PeerLimits, peer_name
from gateway.session import GatewaySession
from gateway.settings import GatewaySettings

__all__ = ["GatewayServer", "GatewaySettings"]

log = structlog.get_logger("gateway")


class _Door(asyncio.Protocol):
    """Every connection's first protocol. Limits per client need its address, which the protocol factory does
    not get: here the server admits the connection (a ``GatewaySession`` takes the transport over) or refuses it."""

    def __init__(self, server: GatewayServer) -> None:
        self.server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        try:
            session = self.server.admit(transport)
        except Exception:
            log.exception("smtp connection failed to start")
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            return
        if session is not None:
            transport.set_protocol(session)
            session.connection_made(transport)


class GatewayServer:
    """One listening socket; ``start`` and ``stop`` are called on the running event loop."""

    def __init__(self, handler: GatewayHandler, settings: GatewaySettings) -> None:
        if settings.require_tls and settings.tls_context is None:
            raise ValueError("require_tls needs a tls_context")
        self.handler = handler
        self.settings = settings
        self.sessions: set[GatewaySession] = set()
        self.peers = PeerLimits(
            max_connections=settings.max_connections_per_ip,
            max_data=settings.max_data_per_ip,
            max_messages_per_minute=settings.max_messages_per_minute_per_ip,
            exempt=settings.per_ip_exempt,
        )
        self._server: asyncio.base_events.Server | None = None
        self._stopping = False
        self._in_data = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.data_slots = asyncio.Semaphore(settings.max_concurrent_data)

    @property
    def stopping(self) -> bool:
        """``stop`` has begun: no new connection, and no new transaction on an open one."""
        return self._stopping

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
        return _Door(self)

    def admit(self, transport: asyncio.BaseTransport) -> GatewaySession | None:
        """A session for a new connection, or ``None`` once it is answered 421 and closed (stopping, or over the
        server's or its client's connection limit)."""
        peername = transport.get_extra_info("peername")
        host = peername[0] if isinstance(peername, tuple) and peername else None
        if self._stopping:
            self._turn_away(transport, policy.SHUTTING_DOWN, "shutting_down", peername)
            return None
        if len(self.sessions) >= self.settings.max_connections:
            limit = self.settings.max_connections
            self._turn_away(transport, policy.TOO_MANY_CONNECTIONS, "connections", peername, limit=limit)
            return None
        peer = self.peers.connect(host)
        if peer is None:
            limit = self.peers.max_connections
            reply = policy.too_many_connections_from(host or "?", limit)
            self._turn_away(transport, reply, "peer_connections", peername, limit=limit)
            return None
        try:
            return GatewaySession(
                self,
                self.handler,
                peer=peer,
                data_size_limit=self.settings.max_message_size,
                hostname=self.settings.hostname,
                ident="mailassist ESMTP",
                timeout=self.settings.command_timeout,
                enable_SMTPUTF8=True,
                decode_data=False,
                tls_context=self.settings.tls_context,
            )
        except BaseException:
            self.peers.disconnect(peer)
            raise

    def _turn_away(
        self, transport: asyncio.BaseTransport, reply: str, reason: str, peername: Any, **fields: Any
    ) -> None:
        """Answer ``reply`` to a new connection and close it, counted."""
        log.warning("smtp connection refused", reason=reason, reply=reply[:9], peer=peer_name(peername), **fields)
        self.handler.count_refusal(reply, reason)
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(reply.encode("ascii") + b"\r\n")
        transport.close()

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
        """Stop accepting, let in-flight DATA finish (up to ``shutdown_grace``), then close idle sessions.

        Meanwhile open sessions get "421 4.3.2" and a hang-up at their next MAIL, RCPT or DATA.
        """
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
