"""The gateway over real loopback SMTP when storage or the broker fails: 451 and no row, never a lost 250."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from typing import Any

from store import Store, StoreUnavailableError
from store.staged import StagedInbound
from tests.gateway.smtp_support import USER, HeldStore, Wrapped, add_user, message, send


class _BrokenBlobs(Wrapped):
    """A store whose blob directory cannot be written."""

    def stage_inbound(self, raw: bytes, **kw: Any) -> StagedInbound:
        raise StoreUnavailableError("cannot write blob: No space left on device")


def test_blob_write_failure_gets_451(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    gw = run_gateway(_BrokenBlobs(sqlite_store))
    code, text = send(gw, message())
    assert (code, text[:5]) == (451, "4.3.0")


def test_real_blob_write_failure_gets_451_and_no_row(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)
    sqlite_store.inline_max = 0  # every message a file, as a large one is
    gw = run_gateway(sqlite_store)
    raw = message()
    # A file where the blob's fan-out directory must go makes the real write fail (chmod would not stop root)
    digest = hashlib.sha256(raw).hexdigest()
    (sqlite_store.blobs.root / digest[:2]).write_bytes(b"in the way")
    code, text = send(gw, raw)
    assert (code, text[:5]) == (451, "4.3.0")
    assert sqlite_store.receipts.list_inbound() == []


def test_database_failure_gets_451_and_no_row(store: Store, run_gateway: Any) -> None:
    add_user(store, USER)
    gw = run_gateway(store)
    # The schema vanishing is as fatal to the insert as a lost connection
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE inbound RENAME TO inbound_gone")
    code, text = send(gw, message())
    assert (code, text[:5]) == (451, "4.3.0")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE inbound_gone RENAME TO inbound")
    assert store.receipts.list_inbound() == []


def test_no_reply_until_storage_has_finished(store: Store, run_gateway: Any) -> None:
    add_user(store, USER)
    held = HeldStore(store)
    gw = run_gateway(held)
    replies: list[tuple[int, str]] = []
    sender = threading.Thread(target=lambda: replies.append(send(gw, message())))
    sender.start()
    assert held.entered.wait(10)
    # While the write is in progress, the client has no answer
    time.sleep(0.3)
    assert replies == []
    held.release.set()
    sender.join(10)
    assert replies[0][0] == 250
    assert replies[0][1].endswith(held.committed[0])


def test_hung_store_gets_451_and_the_late_write_is_rolled_back(store: Store, run_gateway: Any) -> None:
    add_user(store, USER)
    held = HeldStore(store)
    gw = run_gateway(held)
    gw.server.handler.store_timeout = 0.3
    started = time.monotonic()
    code, text = send(gw, message())
    # The client hears 451 at the deadline, not whenever the store wakes up
    assert (code, text[:5]) == (451, "4.3.0")
    assert time.monotonic() - started < 5
    # When the store comes back, the write it was doing does not commit a receipt nobody was told about
    held.release.set()
    time.sleep(0.3)
    assert held.committed == []
    assert store.receipts.list_inbound() == []


def test_broker_failure_does_not_affect_the_250(sqlite_store: Store, run_gateway: Any) -> None:
    add_user(sqlite_store, USER)

    def broken(_inbound_ids: Sequence[str]) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    gw = run_gateway(sqlite_store, enqueue=broken)
    code, text = send(gw, message())
    assert code == 250
    row = sqlite_store.receipts.get_inbound(text.rsplit(" ", 1)[1])
    assert row is not None and row.status == "queued"
