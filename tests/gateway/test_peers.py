"""Limits per client address, without a server: who counts as one client, and the messages-a-minute bucket."""

from __future__ import annotations

import pytest

from gateway.peers import PRUNE_AT, UNCOUNTED, PeerLimits, peer_key, peer_name


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limits(clock: Clock | None = None, **overrides: int) -> PeerLimits:
    settings = {"max_connections": 2, "max_data": 1, "max_messages_per_minute": 60, **overrides}
    return PeerLimits(exempt=["127.0.0.0/8", "::1/128"], clock=clock or Clock(), **settings)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        # One IPv6 host can use a whole network: counted per /84
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3::/84"),
        ("2001:db8:1:2:3:ffff:5:6", "2001:db8:1:2:3:f000::/84"),
        ("fe80::1%eth0", "fe80::/84"),
    ],
)
def test_peer_key(host: str, key: str) -> None:
    assert peer_key(host) == key


def test_connections_are_capped_per_client_and_given_back() -> None:
    peers = limits()
    first, second = peers.connect("203.0.113.5"), peers.connect("203.0.113.5")
    assert first is second is not None
    assert peers.connect("203.0.113.5") is None
    # Another IPv4 address is another client; another address of the same IPv6 /84 is the same one
    assert peers.connect("203.0.113.6") is not None
    v6 = peers.connect("2001:db8::1")
    assert v6 is not None and peers.connect("2001:db8::2") is v6
    assert peers.connect("2001:db8::3") is None
    peers.disconnect(first)
    assert peers.connections("203.0.113.5") == 1
    assert peers.connect("203.0.113.5") is first


def test_exempt_clients_and_zero_limits_are_not_counted() -> None:
    peers = limits(max_connections=0, max_data=0)
    assert all(peers.connect("127.0.0.1") is UNCOUNTED for _ in range(5))
    assert peers.connect("::1") is UNCOUNTED
    assert peers.connect("::ffff:127.0.0.2") is UNCOUNTED
    assert peers.connect(None) is UNCOUNTED
    many = [peers.connect("198.51.100.1") for _ in range(50)]
    assert None not in many
    assert many[0] is not None and many[0].data_slots is None


def test_messages_a_minute_a_burst_then_the_refill_rate() -> None:
    clock = Clock()
    peers = limits(clock, max_messages_per_minute=3)
    peer = peers.connect("203.0.113.5")
    assert peer is not None
    assert [peers.take_message(peer) for _ in range(4)] == [True, True, True, False]
    # Three a minute: one more every 20 seconds
    clock.now += 19
    assert not peers.take_message(peer)
    clock.now += 1.5
    assert peers.take_message(peer)
    assert not peers.take_message(peer)
    # Exempt clients are never refused
    local = peers.connect("127.0.0.1")
    assert local is not None
    assert all(peers.take_message(local) for _ in range(10))


def test_the_bucket_outlives_the_connection() -> None:
    peers = limits(max_messages_per_minute=1)
    peer = peers.connect("203.0.113.5")
    assert peer is not None and peers.take_message(peer)
    peers.disconnect(peer)
    again = peers.connect("203.0.113.5")
    assert again is not None and again is not peer
    assert not peers.take_message(again)


def test_buckets_of_quiet_clients_are_pruned() -> None:
    clock = Clock()
    peers = limits(clock, max_messages_per_minute=60)
    for i in range(PRUNE_AT):
        peer = peers.connect(f"10.0.{i // 256}.{i % 256}")
        assert peer is not None and peers.take_message(peer)
    # A minute later every bucket is full again: the next new client drops them all
    clock.now += 60
    newcomer = peers.connect("192.0.2.1")
    assert newcomer is not None and peers.take_message(newcomer)
    assert len(peers._buckets) == 1


def test_a_peer_is_named_host_and_port_in_the_logs() -> None:
    # aiosmtpd's session.peer is the socket's peer name: a tuple for TCP (4 items for IPv6), else whatever it was
    assert peer_name(("203.0.113.5", 40123)) == "203.0.113.5:40123"
    assert peer_name(("2001:db8::1", 40123, 0, 0)) == "2001:db8::1:40123"
    assert peer_name("/run/mailassist.sock") == "/run/mailassist.sock"
    assert peer_name(None) is None
    assert peer_name(()) is None
