"""Group commit in the store: ``stage_inbound`` writes blobs, ``add_inbound_batch`` commits many receipts at once."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from store import InboundView, Store, StoreError
from store.staged import StagedInbound
from tests.support import has_blob


def _stage(store: Store, n: int, **kw: Any) -> list[StagedInbound]:
    return [
        store.receipts.stage_inbound(
            f"message {n}-{i}".encode(), mail_from="a@example.com", rcpt_tos=["b@x.test"], **kw
        )
        for i in range(n)
    ]


def test_a_batch_commits_every_receipt_in_one_go(store: Store) -> None:
    # Given five staged messages (blobs written, nothing committed)
    staged = _stage(store, 5)
    assert store.receipts.list_inbound() == []
    # When they are committed together
    outcomes = store.receipts.add_inbound_batch(staged)
    # Then each has its receipt, and its blob reads back
    assert [o.id for o in outcomes if isinstance(o, InboundView)] == [s.id for s in staged]
    assert {v.id for v in store.receipts.list_inbound()} == {s.id for s in staged}
    for s in staged:
        assert store.content.get_blob(s.sha256) == f"message 5-{staged.index(s)}".encode()


def test_a_caller_that_gave_up_gets_no_receipt_and_the_others_commit(store: Store) -> None:
    live = _stage(store, 2)
    late = store.receipts.stage_inbound(b"too late", mail_from="", rcpt_tos=["b@x.test"], deadline=time.monotonic() - 1)
    outcomes = store.receipts.add_inbound_batch([live[0], late, live[1]])
    assert isinstance(outcomes[0], InboundView) and isinstance(outcomes[2], InboundView)
    assert isinstance(outcomes[1], StoreError)
    assert {v.id for v in store.receipts.list_inbound()} == {live[0].id, live[1].id}


def test_one_bad_row_fails_alone(store: Store) -> None:
    # Given a batch where one row cannot be inserted (its id repeats another's)
    good = _stage(store, 3)
    bad = dataclasses.replace(good[2], id=good[0].id)
    # When the batch is committed
    outcomes = store.receipts.add_inbound_batch([good[0], good[1], bad])
    # Then the transaction is retried row by row: only the bad one fails, and nothing is half-written
    assert [isinstance(o, InboundView) for o in outcomes] == [True, True, False]
    assert {v.id for v in store.receipts.list_inbound()} == {good[0].id, good[1].id}


def test_database_down_fails_the_whole_batch_and_writes_nothing(sqlite_store: Store) -> None:
    staged = _stage(sqlite_store, 3)
    assert all(s.inline is not None for s in staged)  # small: their bytes were to commit with their rows
    with sqlite_store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE inbound RENAME TO inbound_gone")
    try:
        outcomes = sqlite_store.receipts.add_inbound_batch(staged)
    finally:
        with sqlite_store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE inbound_gone RENAME TO inbound")
    assert all(isinstance(o, StoreError) for o in outcomes)
    assert sqlite_store.receipts.list_inbound() == []
    assert not any(has_blob(sqlite_store, s.sha256) for s in staged)


def test_blob_directory_sync_failure_fails_the_batch(sqlite_store: Store) -> None:
    staged = _stage(sqlite_store, 2)
    gone = sqlite_store.blobs.root / "no-such-dir"
    outcomes = sqlite_store.receipts.add_inbound_batch(
        [dataclasses.replace(staged[0], dirs=frozenset({gone})), staged[1]]
    )
    assert all(isinstance(o, StoreError) for o in outcomes)
    assert sqlite_store.receipts.list_inbound() == []


def test_blob_write_names_the_directories_to_sync(sqlite_store: Store) -> None:
    written = sqlite_store.blobs.write(b"abc")
    final = sqlite_store.blobs.path_for(written.sha256)
    assert final.read_bytes() == b"abc"
    assert written.dirs == {final.parent, final.parent.parent, sqlite_store.blobs.root}
    sqlite_store.blobs.sync_dirs(written.dirs)
    # Writing the same bytes again is a no-op that still names the directories
    assert sqlite_store.blobs.write(b"abc") == written


def test_small_messages_commit_with_their_row_and_large_ones_are_files(store: Store) -> None:
    # Given the inline limit between a small and a large message
    store.inline_max = 100
    small, large = b"x" * 100, b"y" * 101
    staged = [
        store.receipts.stage_inbound(raw, mail_from="a@example.com", rcpt_tos=["b@x.test"]) for raw in (small, large)
    ]
    # Then staging writes only the large one's file, and only it has directories to sync
    assert (staged[0].dirs, staged[0].inline) == (frozenset(), small)
    assert staged[1].dirs and staged[1].inline is None
    assert not store.blobs.exists(staged[0].sha256) and store.blobs.path_for(staged[1].sha256).read_bytes() == large
    assert not has_blob(store, staged[0].sha256), "nothing of the small one exists before the commit"
    # And the commit stores the small one's bytes with its row, found by hash like a file
    store.receipts.add_inbound_batch(staged)
    assert (store.content.get_blob(staged[0].sha256), store.content.get_blob(staged[1].sha256)) == (small, large)
    assert not store.blobs.exists(staged[0].sha256)
    # The same bytes again (an SMTP retry) make a second receipt over the one stored copy
    again = store.receipts.stage_inbound(small, mail_from="a@example.com", rcpt_tos=["b@x.test"])
    assert isinstance(store.receipts.add_inbound_batch([again])[0], InboundView)
    assert store.content.get_blob(again.sha256) == small
