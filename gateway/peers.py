"""Limits per client address: connections, DATA slots and messages a minute, so that one host cannot take what
the server-wide limits (``max_connections``, ``max_concurrent_data``) share among everyone.

Pure bookkeeping on the event loop: no I/O, and the only awaitable is a peer's DATA semaphore.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Iterable
from typing import Any

#: IPv6 clients are counted by network, not by address: one host can use a whole /64 and more. 84 bits is
#: Postfix's ``smtpd_client_ipv6_prefix_length`` default for the same counters.
IPV6_PREFIX = 84

#: Rate buckets of clients gone quiet are dropped once there are more than this many (and twice as many as after
#: the last pruning), so a scan from many addresses cannot grow the table without end.
PRUNE_AT = 1024

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Peer:
    """One client's share: its open connections and its DATA slots. ``key`` is ``None`` for an exempt client."""

    __slots__ = ("connections", "data_slots", "key")

    def __init__(self, key: str | None, data_slots: asyncio.Semaphore | None) -> None:
        self.key = key
        self.connections = 0
        #: ``None``: no per-client cap on DATA (exempt, or ``max_data`` is 0).
        self.data_slots = data_slots


#: The share of every exempt connection (and of one already disconnected): never counted.
UNCOUNTED = Peer(None, None)


def peer_name(peername: Any) -> str | None:
    """``host:port`` of a socket's peer name (aiosmtpd's ``session.peer``), as the logs name a client."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"
    return str(peername) if peername else None


def peer_key(host: str) -> str:
    """The address limits are counted under: the IPv4 address, or the IPv6 ``/IPV6_PREFIX`` network."""
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class PeerLimits:
    """Counts each client's connections, DATA slots and messages; 0 for a limit means none.

    Clients in ``exempt`` (networks such as ``127.0.0.0/8``) are not counted at all.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        max_data: int,
        max_messages_per_minute: int,
        exempt: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_connections = max_connections
        self.max_data = max_data
        self.max_messages_per_minute = max_messages_per_minute
        self.exempt: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in exempt)
        self._clock = clock
        self._peers: dict[str, Peer] = {}
        # Token buckets, [tokens, last refill]: they outlive connections, or reconnecting would refill them.
        self._buckets: dict[str, list[float]] = {}
        self._prune_at = PRUNE_AT

    def is_exempt(self, host: str) -> bool:
        """Whether ``host`` is in one of the ``exempt`` networks."""
        if not self.exempt:
            return False
        try:
            ip = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.exempt)

    def connect(self, host: str | None) -> Peer | None:
        """The client's share with one more connection counted, or ``None`` when it has ``max_connections``
        open already. A connection without a known address (it is already gone) is not counted."""
        if host is None or self.is_exempt(host):
            return UNCOUNTED
        key = peer_key(host)
        peer = self._peers.get(key)
        if peer is None:
            slots = asyncio.Semaphore(self.max_data) if self.max_data else None
            peer = self._peers[key] = Peer(key, slots)
        elif self.max_connections and peer.connections >= self.max_connections:
            return None
        peer.connections += 1
        return peer

    def disconnect(self, peer: Peer) -> None:
        """One of ``peer``'s connections closed."""
        if peer.key is None:
            return
        peer.connections -= 1
        if peer.connections <= 0 and self._peers.get(peer.key) is peer:
            # A session still holding one of its DATA slots keeps its own reference and releases into it.
            del self._peers[peer.key]

    def connections(self, host: str) -> int:
        """Connections open from ``host``'s key (0 if exempt)."""
        peer = self._peers.get(peer_key(host))
        return peer.connections if peer is not None else 0

    def take_message(self, peer: Peer) -> bool:
        """Count one message from ``peer``; ``False`` (and nothing counted) when it is over
        ``max_messages_per_minute``. A token bucket: up to that many at once, then that many a minute."""
        limit = self.max_messages_per_minute
        if peer.key is None or not limit:
            return True
        now = self._clock()
        bucket = self._buckets.get(peer.key)
        if bucket is None:
            if len(self._buckets) >= self._prune_at:
                self._prune(now)
            bucket = self._buckets[peer.key] = [float(limit), now]
        tokens = min(float(limit), bucket[0] + (now - bucket[1]) * limit / 60.0)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _prune(self, now: float) -> None:
        """Drop the buckets that have refilled: those clients are back to a fresh start anyway."""
        limit = self.max_messages_per_minute
        full = [k for k, (tokens, stamp) in self._buckets.items() if tokens + (now - stamp) * limit / 60.0 >= limit]
        for key in full:
            del self._buckets[key]
        self._prune_at = max(PRUNE_AT, 2 * len(self._buckets))
