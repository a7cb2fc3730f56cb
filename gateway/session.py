"""One SMTP connection: aiosmtpd's protocol with our limits (per client address and server-wide), our own DATA
(slots, pace, one buffer), STARTTLS, and the hang-ups of a stop or a stalled client. The server it answers to is
a :class:`SessionHost` (``gateway.server.GatewayServer``)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import structlog
from aiosmtpd.smtp import SMTP, syntax

from gateway import policy
from gateway.commands import parse_path, protocol_names
from gateway.data import DataWatch, read_data
from gateway.handler import GatewayHandler
from gateway.peers import UNCOUNTED, Peer, PeerLimits, peer_name
from gateway.settings import GatewaySettings

log = structlog.get_logger("gateway")

#: Longest wait for a DATA slot before "451 4.3.2" (clients wait 2 minutes for the 354, RFC 5321 §4.5.3.2.2).
DATA_SLOT_WAIT = 60.0

#: After a hang-up, how long a connection may take to close before it is cut: a TLS close waits for the client's
#: close_notify (asyncio allows 30 s), any close for the client to read what is still buffered.
HANG_UP_WAIT = 5.0


class SessionHost(Protocol):
    """What a session needs of its server: the settings, the limits shared by all sessions, the handler that
    counts refusals, and the count of DATA commands a stop waits for."""

    settings: GatewaySettings
    handler: GatewayHandler
    sessions: set[GatewaySession]
    peers: PeerLimits
    data_slots: asyncio.Semaphore

    @property
    def stopping(self) -> bool:
        """A stop has begun: no new transaction."""

    def data_started(self) -> None:
        """A session entered DATA."""

    def data_finished(self) -> None:
        """A session answered its DATA."""


class GatewaySession(SMTP):
    """aiosmtpd's protocol, plus registration with the server for limits and shutdown, a cheaper start, our own
    DATA (slots, pace, one buffer), and the stop, TLS, size and rate checks at MAIL."""

    def __dir__(self) -> list[str]:
        return protocol_names(type(self))

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd's own costs ~250 us per MAIL/RCPT; ``parse_path`` gives the same answers (tests/gateway).
        return parse_path(arg, self.local_part_limit)

    def __init__(self, server: SessionHost, *args: Any, peer: Peer = UNCOUNTED, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gateway = server
        #: This client's share of the per-address limits (counted until the connection is lost).
        self._peer = peer
        self._deadline: asyncio.TimerHandle | None = None
        self._host: str | None = None
        self._watch: DataWatch | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called again by aiosmtpd after STARTTLS, with the TLS transport: registered once only.
        first = self.transport is None
        super().connection_made(transport)
        if first:
            peername = transport.get_extra_info("peername")
            self._host = peername[0] if isinstance(peername, tuple) and peername else None
            self._gateway.sessions.add(self)
            self._deadline = self.loop.call_later(self._gateway.settings.session_timeout, self._expire)

    def connection_lost(self, error: Exception | None) -> None:
        self._gateway.sessions.discard(self)
        self._gateway.peers.disconnect(self._peer)
        self._peer = UNCOUNTED
        if self._deadline is not None:
            self._deadline.cancel()
        if self._watch is not None:
            self._watch.close()
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        if self._watch is not None:
            self._watch.feed(len(data))
        super().data_received(data)

    def _peer_name(self) -> str | None:
        return peer_name(self.session.peer) if self.session else None

    def _count(self, reply: str, reason: str, **fields: Any) -> None:
        """Log and count one refusal."""
        log.warning("smtp refused", reason=reason, reply=reply[:9], peer=self._peer_name(), **fields)
        self._gateway.handler.count_refusal(reply, reason)

    async def _refuse(self, reply: str, reason: str, *, close: bool = False, **fields: Any) -> None:
        """Answer ``reply`` to the current command, counted, and hang up after it if ``close``."""
        self._count(reply, reason, **fields)
        await self.push(reply)
        if close:
            self._close()

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        if self._tls_protocol is not None:
            # aiosmtpd would start a second TLS layer inside the first.
            await self.push(policy.TLS_ACTIVE)
            return
        await super().smtp_STARTTLS(arg)

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        if self._gateway.stopping:
            await self._refuse(policy.SHUTTING_DOWN, "shutting_down", close=True)
            return
        if self._gateway.settings.require_tls and self._tls_protocol is None:
            await self._refuse(policy.TLS_REQUIRED, "tls_required")
            return
        size = self._declared_size(arg)
        if size is not None and self.data_size_limit and size > self.data_size_limit:
            await self._refuse(policy.too_big(self.data_size_limit), "oversize", declared=size)
            return
        if not self._gateway.peers.take_message(self._peer):
            limit = self._gateway.peers.max_messages_per_minute
            await self._refuse(policy.too_much_mail_from(self._host or "?", limit), "peer_rate", limit=limit)
            return
        await super().smtp_MAIL(arg)

    def _declared_size(self, arg: str | None) -> int | None:
        """The ``SIZE=`` of a MAIL command that aiosmtpd would otherwise accept this far (its own answer to an
        oversize one has no enhanced status code)."""
        if not arg or "SIZE=" not in arg.upper() or self.session is None or not self.session.host_name:
            return None
        if self.envelope is None or self.envelope.mail_from:
            return None
        path = self._strip_command_keyword("FROM:", arg)
        address, rest = self._getaddr(path) if path is not None else (None, None)
        params = self._getparams(rest.upper().split()) if address and rest else None
        size = params.get("SIZE") if params else None
        return int(size) if isinstance(size, str) and size.isdigit() else None

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        if self._gateway.stopping:
            # A transaction not yet in DATA when the stop began is not taken: the client retries elsewhere/later.
            await self._refuse(policy.SHUTTING_DOWN, "shutting_down", close=True)
            return
        await super().smtp_RCPT(arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if self._gateway.stopping:
            await self._refuse(policy.SHUTTING_DOWN, "shutting_down", close=True)
            return
        # Counted from the DATA command to the final reply, so a stop waits for mail still arriving.
        self._gateway.data_started()
        try:
            await self._data(arg)
        finally:
            self._gateway.data_finished()

    async def _data(self, arg: str) -> None:
        """aiosmtpd's DATA, with a bounded number at once (per client and in all) and the message read into one
        buffer (``gateway.data``)."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        peer_slots = self._peer.data_slots
        deadline = self.loop.time() + min(DATA_SLOT_WAIT, self._gateway.settings.command_timeout)
        # This client's slot first, so that while it waits it holds none of the slots everyone shares.
        if peer_slots is not None and not await _acquire(peer_slots, deadline):
            limit = self._gateway.peers.max_data
            await self._refuse(policy.too_many_at_once_from(self._host or "?", limit), "peer_data", limit=limit)
            return
        try:
            if not await _acquire(self._gateway.data_slots, deadline):
                await self._refuse(policy.TOO_BUSY, "data_busy", limit=self._gateway.settings.max_concurrent_data)
                return
            try:
                if self._gateway.stopping:
                    # The stop began while this DATA waited for its slot: no 354, it is new mail.
                    await self._refuse(policy.SHUTTING_DOWN, "shutting_down", close=True)
                    return
                await self._receive()
            finally:
                self._gateway.data_slots.release()
        finally:
            if peer_slots is not None:
                peer_slots.release()

    async def _receive(self) -> None:
        assert self.envelope is not None
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        settings = self._gateway.settings
        # The watch bounds the transfer instead of aiosmtpd's command timeout, which would cut a large message
        # arriving steadily (it is armed again for the reply and the next command).
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        watch = self._watch = DataWatch(
            self.loop,
            timeout=settings.data_timeout,
            min_rate=settings.min_data_rate,
            grace=settings.min_data_rate_grace,
            on_stall=self._data_stalled,
        )
        try:
            read = await read_data(self._reader, self.data_size_limit)
        except asyncio.IncompleteReadError:
            if watch.stalled is None:
                log.info("smtp connection lost during DATA", peer=self._peer_name(), received=watch.size)
            self._writer.close()
            return
        except asyncio.CancelledError:
            self._writer.close()
            raise
        finally:
            watch.close()
            self._watch = None
        self._reset_timeout()
        if read.too_big:
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self._refuse(policy.too_big(self.data_size_limit or 0), "oversize", received=watch.size)
            return
        # One object for both: with decode_data=False aiosmtpd would make them the same bytes too.
        self.envelope.original_content = self.envelope.content = read.message  # type: ignore[assignment]
        del read
        status = await self._call_handler_hook("DATA")
        # A fresh envelope drops the message before the next command, and before the slot is released.
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    def _data_stalled(self, reason: str) -> None:
        """The ``DataWatch`` gave up on this client: say why, hang up, and end the DATA command."""
        watch = self._watch
        reply = policy.DATA_TIMEOUT if reason == "data_timeout" else policy.DATA_TOO_SLOW
        received = watch.size if watch is not None else 0
        seconds = round(watch.elapsed(), 1) if watch is not None else None
        self._count(reply, reason, received=received, seconds=seconds)
        self.hang_up(reply)
        # Over TLS the close takes a while: the DATA slots are given back now, not when it is done.
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()

    def _expire(self) -> None:
        log.info("smtp session time limit", peer=self._peer_name())
        self.hang_up(policy.SESSION_TOO_LONG)

    def hang_up(self, reply: str) -> None:
        """Say ``reply`` and close, unless the transport is already gone."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(reply.encode("ascii") + b"\r\n")
            self._close()

    def _close(self) -> None:
        """Close the connection, and cut it if it is still open ``HANG_UP_WAIT`` seconds later."""
        if self.transport is not None:
            self.transport.close()
            self.loop.call_later(HANG_UP_WAIT, self._cut)

    def _cut(self) -> None:
        if self.transport is not None:  # aiosmtpd clears it once the connection is lost
            raw = self._original_transport or self.transport  # under TLS, the TCP connection
            assert isinstance(raw, asyncio.WriteTransport)
            raw.abort()


async def _acquire(slots: asyncio.Semaphore, deadline: float) -> bool:
    """Take one of ``slots``, waiting until ``deadline`` (loop time) at most; no timer when one is free."""
    if not slots.locked():
        await slots.acquire()
        return True
    try:
        async with asyncio.timeout_at(deadline):
            await slots.acquire()
    except TimeoutError:
        return False
    return True
