"""IMAP sources against a real Dovecot: a UIDVALIDITY change, a restart between a commit and its UID, and the lease."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mailassist.imap import LeaseLostError
from store import Store
from tests.mailassist.dovecot import Dovecot
from tests.mailassist.imap.support import mailbox, message, poller, receipts, running, wait_until

pytestmark = pytest.mark.slow


def test_a_uidvalidity_change_takes_the_folder_again_and_dedupe_absorbs_the_repeats(
    store: Store, server: Dovecot, tmp_path: Path
) -> None:
    first, second, third = message(1), message(2), message(3)
    server.deliver("anna", first, second, folder="Archive")
    p = poller(store, mailbox(server, tmp_path, folders=["Archive"]))
    assert p.poll().new == 2
    before = server.uidvalidity("anna", "Archive")

    # When the folder is rebuilt (a server migration): same messages, new UIDVALIDITY, one message more
    server.recreate_folder("anna", "Archive")
    server.deliver("anna", first, second, third, folder="Archive")
    assert server.uidvalidity("anna", "Archive") != before

    tally = p.poll()

    # Then the folder is taken again from the start: the two it had are duplicates, only the new one is new
    assert (tally.new, tally.duplicates, tally.resets) == (1, 2, ["Archive"])
    assert len(receipts(store)) == 3
    state = store.sources.get_source_state("anna")
    assert state is not None
    (folder,) = state.folders
    assert (folder.uidvalidity, folder.last_uid, folder.resets) == (server.uidvalidity("anna", "Archive"), 3, 1)


class CrashBeforeUidIsRecorded:
    """The store, but the poller "dies" right after a commit, before it records the UID."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sources = _CrashingSources(store.sources)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class _CrashingSources:
    """``store.sources`` whose ``record_folder_progress`` never returns."""

    def __init__(self, sources: Any) -> None:
        self.inner = sources

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def record_folder_progress(self, *args: Any, **kwargs: Any) -> bool:
        raise KeyboardInterrupt("killed between the commit and the UID")


def test_a_restart_between_the_commit_and_the_uid_fetches_the_message_again_and_files_it_once(
    store: Store, server: Dovecot, tmp_path: Path
) -> None:
    server.deliver("anna", message(1))
    box = mailbox(server, tmp_path)
    crashing = poller(CrashBeforeUidIsRecorded(store), box, lease=0.5)
    with pytest.raises(KeyboardInterrupt):
        crashing.poll()
    # The message was committed; its UID was not recorded
    assert len(receipts(store)) == 1
    state = store.sources.get_source_state("anna")
    assert state is not None
    assert state.folders[0].last_uid == 0

    # A new poller (another process) can take the source once the dead one's lease runs out
    restarted = poller(store, box, lease=60)
    with pytest.raises(LeaseLostError):
        restarted.poll()
    time.sleep(0.6)
    tally = restarted.poll()

    # It fetches the message again, and dedupe absorbs it: one receipt
    assert (tally.new, tally.duplicates) == (0, 1)
    assert len(receipts(store)) == 1
    state = store.sources.get_source_state("anna")
    assert state is not None
    assert state.folders[0].last_uid == 1


def test_two_pollers_never_poll_one_mailbox(store: Store, server: Dovecot, tmp_path: Path) -> None:
    server.deliver("anna", message(1), message(2))
    box = mailbox(server, tmp_path)
    first, second = poller(store, box), poller(store, box)
    with running(first):
        wait_until(lambda: len(receipts(store)) == 2, what="the first poller's poll")
        with pytest.raises(LeaseLostError):
            second.poll()
    # Stopped, the first gives the lease up and the second takes over
    server.deliver("anna", message(3))
    assert second.poll().new == 1
