"""UserCache: lookups are reused to accept mail, never to refuse it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.users import UserCache


class _Directory:
    def __init__(self) -> None:
        self.users: dict[str, object] = {"anna@example.com": "Anna"}
        self.calls: list[set[str]] = []

    def lookup(self, addresses: Iterable[str]) -> Mapping[str, object]:
        wanted = set(addresses)
        self.calls.append(wanted)
        return {a: u for a, u in self.users.items() if a in wanted}


def test_repeated_lookups_hit_the_cache_until_it_expires() -> None:
    directory, now = _Directory(), [0.0]
    cache = UserCache(directory.lookup, ttl=60, clock=lambda: now[0])
    keys = ["anna@example.com", "jan@client.test"]
    assert cache.find(keys) == {"anna@example.com": "Anna"}
    assert cache.find(keys) == {"anna@example.com": "Anna"}
    assert len(directory.calls) == 1
    now[0] = 61
    cache.find(keys)
    assert len(directory.calls) == 2


def test_fresh_lookup_sees_a_user_added_since() -> None:
    # Given "jan" was looked up (not a user) and then imported
    directory = _Directory()
    cache = UserCache(directory.lookup, ttl=60)
    assert cache.find(["jan@client.test"]) == {}
    directory.users["jan@client.test"] = "Jan"
    # Then the cache alone still says no, but a fresh lookup (what the gateway does before refusing) finds him
    assert cache.find(["jan@client.test"]) == {}
    assert cache.find(["jan@client.test"], fresh=True) == {"jan@client.test": "Jan"}
    assert cache.find(["jan@client.test"]) == {"jan@client.test": "Jan"}


def test_zero_ttl_never_caches() -> None:
    directory = _Directory()
    cache = UserCache(directory.lookup, ttl=0)
    cache.find(["anna@example.com"])
    cache.find(["anna@example.com"])
    assert len(directory.calls) == 2
