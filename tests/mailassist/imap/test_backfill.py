"""IMAP sources against a real Dovecot: back-fill, new mail while the poller runs, and IDLE."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from mailassist.imap import PROOF_PERSONAL
from store import Store
from tests.mailassist.dovecot import Dovecot
from tests.mailassist.imap.support import ANNA, mailbox, message, poller, receipts, running, subjects, wait_until

pytestmark = pytest.mark.slow


def test_back_fill_takes_the_messages_received_since_the_date_as_the_users_submissions(
    store: Store, server: Dovecot, tmp_path: Path
) -> None:
    # Given a mailbox with mail from 2020 and from 2024, Sent included
    server.deliver("anna", message(1, subject="old"), when=datetime(2020, 1, 5, 9, 0))
    server.deliver("anna", message(2, subject="spring"), message(3, subject="summer"), when=datetime(2024, 6, 1, 9, 0))
    server.deliver("anna", message(4, subject="sent reply"), folder="Sent", when=datetime(2024, 6, 2, 9, 0))
    box = mailbox(server, tmp_path, fetch_since="2024-01-01", folders=["INBOX", "Sent"])

    # When it is polled once
    p = poller(store, box)
    tally = p.poll()

    # Then the messages since the date are receipts of Anna's, proven by her personal mailbox
    assert (tally.new, tally.duplicates, tally.refused) == (3, 0, 0)
    assert subjects(store) == ["sent reply", "spring", "summer"]
    assert {(r.source, r.proof, r.submitter, r.status) for r in receipts(store)} == {
        ("imap:anna", PROOF_PERSONAL, ANNA, "queued")
    }
    assert "personal IMAP mailbox 'anna'" in receipts(store)[0].auth["detail"]
    # The folders' progress is recorded, and the mailbox is left exactly as it was (nothing flagged \Seen)
    state = store.sources.get_source_state("anna")
    assert state is not None
    assert state.messages_taken == 3
    assert {f.folder: f.last_uid for f in state.folders} == {"INBOX": 3, "Sent": 1}
    assert all(b"\\Seen" not in flags for flags in server.flags("anna").values())

    # And a second poll takes nothing again
    again = p.poll()
    assert again.seen == 0
    assert len(receipts(store)) == 3


def test_new_mail_is_taken_while_the_poller_runs(store: Store, server: Dovecot, tmp_path: Path) -> None:
    server.deliver("anna", message(1))
    p = poller(store, mailbox(server, tmp_path))
    with running(p):
        wait_until(lambda: len(receipts(store)) == 1, what="the first message")
        wait_until(
            lambda: (s := store.sources.get_source_state("anna")) is not None and s.state == "waiting", what="waiting"
        )
        server.deliver("anna", message(2), message(3))
        wait_until(lambda: len(receipts(store)) == 3, what="the new messages")
    state = store.sources.get_source_state("anna")
    assert state is not None
    # Stopped: the lease is given up
    assert (state.state, state.lease_owner, state.messages_taken, state.failures) == ("stopped", None, 3, 0)
    assert state.last_ok_at is not None


def test_idle_wakes_the_poller_when_mail_arrives(store: Store, server: Dovecot, tmp_path: Path) -> None:
    # Given a poller that would poll again only in 10 minutes, waiting in IDLE
    server.deliver("anna", message(1))
    p = poller(store, mailbox(server, tmp_path, idle=True, poll_interval=600))
    with running(p):
        wait_until(lambda: len(receipts(store)) == 1, what="the first message")
        wait_until(
            lambda: (s := store.sources.get_source_state("anna")) is not None and s.state == "waiting", what="waiting"
        )
        time.sleep(0.3)  # in IDLE by now
        # When a message arrives, it is taken within seconds, not at the next poll
        started = time.monotonic()
        server.deliver("anna", message(2))
        wait_until(lambda: len(receipts(store)) == 2, timeout=10, what="the IDLE wake-up")
        assert time.monotonic() - started < 10
