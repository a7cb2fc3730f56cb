"""gateway.outbox: queue sends leave the storage path, keep their order, and survive a failing broker."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from gateway.outbox import InlineOutbox, Outbox


def test_sends_every_batch_in_order_with_one_call_each_and_close_waits_for_them() -> None:
    calls: list[list[str]] = []
    outbox = Outbox(lambda ids: calls.append(list(ids)))
    outbox.send(["a", "b"])
    outbox.send([])
    outbox.send(["c"])
    assert outbox.close(5) is True
    assert calls == [["a", "b"], ["c"]]


def test_a_failed_batch_is_left_to_the_sweeper_and_the_next_batch_goes_on() -> None:
    sent: list[str] = []
    failed: list[Sequence[str]] = []

    def send(ids: Sequence[str]) -> None:
        if "b" in ids:
            failed.append(ids)
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        sent.extend(ids)

    outbox = Outbox(send)
    outbox.send(["a", "b"])
    outbox.send(["c"])
    assert outbox.close(5) is True
    assert (failed, sent) == ([["a", "b"]], ["c"])


def test_send_returns_at_once_while_the_broker_hangs_and_close_gives_up_in_time() -> None:
    # Given a broker that black-holes the first send
    release = threading.Event()
    outbox = Outbox(lambda _ids: release.wait(10) and None)
    # When ids are handed over, the caller (the commit thread) is not held up
    outbox.send(["a"])
    outbox.send(["b"])
    # And a stop waits no longer than it was told, then says not everything went out
    assert outbox.close(0.2) is False
    release.set()


def test_the_inline_outbox_sends_each_batch_when_flushed_and_pauses_after_a_failure() -> None:
    now = [100.0]
    calls: list[list[str]] = []
    down = [False]

    def send(ids: Sequence[str]) -> None:
        if down[0]:
            raise TimeoutError("Timeout reading from 127.0.0.1:6379")
        calls.append(list(ids))

    outbox = InlineOutbox(send, pause=30, clock=lambda: now[0])
    # Kept until flushed (after the storage process has answered), then sent in one call
    outbox.send(["a", "b"])
    outbox.send(["c"])
    assert calls == []
    outbox.flush()
    outbox.flush()  # nothing kept: no call
    assert calls == [["a", "b", "c"]]
    # The broker fails: that batch is left to the sweeper, and so is every batch for the next 30 s (no timeouts)
    down[0] = True
    outbox.send(["d"])
    outbox.flush()
    down[0] = False
    now[0] += 29
    outbox.send(["e"])
    outbox.flush()
    assert calls == [["a", "b", "c"]]
    # Then it tries again
    now[0] += 2
    outbox.send(["f"])
    outbox.flush()
    assert calls == [["a", "b", "c"], ["f"]]
    # A stop sends what is kept
    outbox.send(["g"])
    assert outbox.close(5) is True
    assert calls[-1] == ["g"]
