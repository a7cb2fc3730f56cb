"""gateway.outbox: queue sends leave the storage path, keep their order, and survive a failing broker."""

from __future__ import annotations

import threading

from gateway.outbox import Outbox


def test_sends_every_id_in_order_and_close_waits_for_them() -> None:
    sent: list[str] = []
    outbox = Outbox(sent.append)
    outbox.send(["a", "b"])
    outbox.send([])
    outbox.send(["c"])
    assert outbox.close(5) is True
    assert sent == ["a", "b", "c"]


def test_a_failed_send_is_left_to_the_sweeper_and_the_rest_go_on() -> None:
    sent: list[str] = []

    def send(inbound_id: str) -> None:
        if inbound_id == "b":
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        sent.append(inbound_id)

    outbox = Outbox(send)
    outbox.send(["a", "b", "c"])
    assert outbox.close(5) is True
    assert sent == ["a", "c"]


def test_send_returns_at_once_while_the_broker_hangs_and_close_gives_up_in_time() -> None:
    # Given a broker that black-holes the first send
    release = threading.Event()
    outbox = Outbox(lambda _id: release.wait(10) and None)
    # When ids are handed over, the caller (the commit thread) is not held up
    outbox.send(["a"])
    outbox.send(["b"])
    # And a stop waits no longer than it was told, then says not everything went out
    assert outbox.close(0.2) is False
    release.set()
