"""IMAP sources against a real Dovecot: group mailboxes, mark_seen, move_to, size limits and ``fetch_since``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mailassist.imap import PROOF_GROUP, SourceError
from store import Store
from tests.mailassist.dovecot import Dovecot
from tests.mailassist.imap.support import ANNA, BOB, SUPPORT_PASSWORD, mailbox, message, poller, receipts, subjects

pytestmark = pytest.mark.slow


def test_a_group_mailbox_files_its_mail_for_the_teams_member(store: Store, server: Dovecot, tmp_path: Path) -> None:
    server.deliver("support", message(1, subject="where is my order"))
    box = mailbox(
        server, tmp_path, name="support", login="support", password=SUPPORT_PASSWORD, user=None, team="support",
        submitter=BOB,
    )  # fmt: skip
    assert poller(store, box).poll().new == 1
    (receipt,) = receipts(store)
    assert (receipt.source, receipt.proof, receipt.submitter) == ("imap:support", PROOF_GROUP, BOB)
    assert "team 'Support'" in receipt.auth["detail"]

    # A submitter outside the team is a clear error of that source
    wrong = mailbox(
        server, tmp_path, name="support2", login="support", password=SUPPORT_PASSWORD, user=None, team="Support",
        submitter=ANNA,
    )  # fmt: skip
    with pytest.raises(SourceError, match="is not a member of team 'Support' \\(their team: Sales\\)"):
        poller(store, wrong).poll()


def test_mark_seen_and_move_to_change_the_mailbox_only_when_asked(
    store: Store, server: Dovecot, tmp_path: Path
) -> None:
    server.deliver("anna", message(1), message(2))
    server.deliver("anna", message(3), folder="Filed")
    assert poller(store, mailbox(server, tmp_path, mark_seen=True)).poll().new == 2
    assert all(b"\\Seen" in flags for flags in server.flags("anna").values())

    moved = mailbox(server, tmp_path, name="anna-move", move_to="Filed")
    server.deliver("anna", message(4))
    assert poller(store, moved).poll().new == 1  # 1 and 2 were taken by the other source: duplicates
    assert server.count("anna") == 0
    assert server.count("anna", "Filed") == 4


def test_a_message_too_big_is_skipped_without_fetching_it(store: Store, server: Dovecot, tmp_path: Path) -> None:
    big = message(1, subject="huge").replace(b"here is message", b"x" * (2 * 1024 * 1024) + b" here is message")
    server.deliver("anna", big, message(2, subject="small"))
    tally = poller(store, mailbox(server, tmp_path)).poll()
    assert (tally.new, tally.refused) == (1, 1)
    assert subjects(store) == ["small"]
    state = store.sources.get_source_state("anna")
    assert state is not None
    assert state.folders[0].last_uid == 2


def test_fetch_since_accepts_a_toml_date(tmp_path: Path, server: Dovecot) -> None:
    box = mailbox(server, tmp_path, fetch_since=date(2024, 1, 1))
    assert box.fetch_since == date(2024, 1, 1)
