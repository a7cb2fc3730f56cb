"""Inbound ids: unique, time-sorted (in order of issue within a process), printable; a forked child draws other
ids than its parent."""

from __future__ import annotations

import os
import threading
import time

from store.ids import _ALPHABET, _encode, new_inbound_id


def test_ids_are_unique_printable_and_sort_by_time() -> None:
    first = [new_inbound_id() for _ in range(20_000)]
    time.sleep(0.002)
    later = new_inbound_id()
    assert len(set(first)) == len(first)
    assert all(len(i) == 18 and set(i) <= set(_ALPHABET) for i in first)
    assert later > max(first)
    # Within one process they come out in order, also many to a millisecond
    assert first == sorted(first)
    # The leading 48 bits are the milliseconds
    value = 0
    for ch in later:
        value = value * 32 + _ALPHABET.index(ch)
    assert abs((value >> 40) - time.time_ns() // 1_000_000) < 1000


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, " ".join(new_inbound_id()[-8:] for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    mine = {new_inbound_id()[-8:] for _ in range(50)}
    with os.fdopen(read, "rb") as pipe:
        theirs = set(pipe.read().decode().split())
    os.waitpid(pid, 0)
    assert len(theirs) == 50
    assert not mine & theirs


def test_ids_drawn_by_many_threads_at_once_are_unique_and_each_threads_are_in_order() -> None:
    drawn: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(new_inbound_id() for _ in range(5_000))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({i for into in drawn for i in into}) == 20_000
    assert all(into == sorted(into) for into in drawn)


def test_the_encoding_is_crockford_base32_most_significant_digit_first() -> None:
    def digit_by_digit(value: int) -> str:
        return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(18)))

    for value in (0, 1, 31, 32, 12345678901234567890, 2**88 - 1, 2**90 - 1):
        assert _encode(value) == digit_by_digit(value)
    assert _encode(0) == "0" * 18
    assert _encode(2**90 - 1) == "Z" * 18
