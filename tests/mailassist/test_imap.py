"""IMAP mailbox sources against a real Dovecot: back-fill, new mail, IDLE, UIDVALIDITY changes, a restart between
a commit and its UID, wrong passwords, a server that is down, TLS, group mailboxes, and the lease."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest

from gateway.ingest import Ingestor
from mailassist.config import parse_config
from mailassist.imap import (
    PROOF_GROUP,
    PROOF_PERSONAL,
    LeaseLostError,
    Mailbox,
    Poller,
    Pollers,
    SourceError,
    connect,
    mailbox_of,
)
from store import Store
from store.shapes import UserRow
from tests.mailassist.dovecot import Dovecot

pytestmark = pytest.mark.slow

ANNA = "anna.nowak@example.com"
BOB = "bob.support@example.com"
ANNA_PASSWORD = "anna-imap-Secret-7f3a"
SUPPORT_PASSWORD = "support-imap-Secret-91c2"


def message(n: int, *, subject: str | None = None, sender: str = "tomasz@acme-logistics.example.pl") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Tomasz Wiśniewski <{sender}>"
    msg["To"] = f"Anna Nowak <{ANNA}>"
    msg["Subject"] = subject or f"Fleet renewal, message {n}"
    msg["Date"] = format_datetime(datetime(2024, 5, 1, 10, n % 60, tzinfo=UTC))
    msg["Message-ID"] = make_msgid(domain="acme-logistics.example.pl")
    msg.set_content(f"Dear Anna,\n\nhere is message {n} about the fleet renewal.\n\nTomasz\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    sqlite_store.directory.apply_users(
        [
            UserRow(2, ANNA, "Anna Nowak", "Sales", "team"),
            UserRow(3, BOB, "Bob Support", "Support", "team"),
        ]
    )
    return sqlite_store


@pytest.fixture
def server(dovecot: Dovecot) -> Dovecot:
    dovecot.add_user("anna", ANNA_PASSWORD)
    dovecot.add_user("support", SUPPORT_PASSWORD)
    return dovecot


def mailbox(server: Dovecot, tmp_path: Path, **block: Any) -> Mailbox:
    """A ``[[sources.imap]]`` block read as the config reads it (plain IMAP to loopback, quick back-off)."""
    values: dict[str, Any] = {
        "name": "anna",
        "host": "127.0.0.1",
        "port": server.port,
        "tls": "none",
        "login": "anna",
        "password": ANNA_PASSWORD,
        "user": ANNA,
        "poll_interval": 0.2,
        "idle": False,
        "min_backoff": 0.1,
        "max_backoff": 0.4,
        "timeout": 10.0,
    }
    values.update(block)
    values = {k: v for k, v in values.items() if v is not None}
    config = parse_config({"sources": {"imap": [values]}}, base_dir=tmp_path)
    return mailbox_of(config, config.sources.imap[0])


def ingestor(store: Store) -> Ingestor:
    return Ingestor(store, enqueue=lambda _ids: None, max_size=1024 * 1024)


_made: list[Poller] = []


def poller(store: Any, box: Mailbox, **kwargs: Any) -> Poller:
    """A poller over ``store``, its connection closed after the test (``close_pollers``)."""
    p = Poller(store, box, ingestor(store if isinstance(store, Store) else store.store), **kwargs)
    _made.append(p)
    return p


@pytest.fixture(autouse=True)
def close_pollers() -> Iterator[None]:
    yield
    while _made:
        p = _made.pop()
        p.drop()
        p.ingestor.close()


@contextmanager
def running(p: Poller) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=p.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(15)
        assert not thread.is_alive()


def receipts(store: Store) -> list[Any]:
    return store.receipts.list_inbound(limit=1000, newest_first=False)


def subjects(store: Store) -> list[str]:
    return sorted(
        store.content.get_blob(r.sha256).split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
        for r in receipts(store)
    )


# --- back-fill, new mail, IDLE ---------------------------------------------------------------------------------------


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


# --- UIDVALIDITY, restarts --------------------------------------------------------------------------------------------


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


# --- errors: wrong password, server down ------------------------------------------------------------------------------


def test_a_wrong_password_is_a_clear_error_of_its_source_only_and_never_shown(
    store: Store, server: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # imapclient's own lines too
    server.deliver("anna", message(1))
    server.deliver("support", message(2, subject="support question"))
    wrong = "Wrong-Password-5d1e"
    good = mailbox(server, tmp_path, name="support", login="support", password=SUPPORT_PASSWORD, user=BOB)
    bad = mailbox(server, tmp_path, password=wrong)
    assert wrong not in repr(bad)

    pollers = Pollers(store, [bad, good], lambda: ingestor(store))
    pollers.start()
    try:
        wait_until(lambda: len(receipts(store)) == 1, what="the good source's message")
        wait_until(
            lambda: (s := store.sources.get_source_state("anna")) is not None and s.failures >= 2, what="failures"
        )
    finally:
        pollers.stop()

    assert subjects(store) == ["support question"]
    state = store.sources.get_source_state("anna")
    assert state is not None
    assert state.last_error is not None
    assert state.last_error.startswith(f"login refused for anna@127.0.0.1:{server.port} (check login and password)")
    assert "AUTHENTICATIONFAILED" in state.last_error
    # The password is in no log line, no error and no state
    out, err = capfd.readouterr()
    logged = "\n".join([out, err, *(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)])
    assert "login refused" in logged
    for secret in (wrong, ANNA_PASSWORD, SUPPORT_PASSWORD):
        assert secret not in logged
        assert secret not in state.last_error
    with pytest.raises(SourceError) as raised:
        connect(bad)
    assert wrong not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__context__ is not None  # suppressed, not chained


def test_a_server_that_is_down_is_backed_off_from_and_polled_again_when_it_is_back(
    store: Store, server: Dovecot, tmp_path: Path
) -> None:
    server.stop()
    box = mailbox(server, tmp_path, min_backoff=0.1, max_backoff=0.3)
    assert (box.backoff(1), box.backoff(2), box.backoff(3), box.backoff(10)) == (0.1, 0.2, 0.3, 0.3)
    p = poller(store, box)
    with running(p):
        wait_until(
            lambda: (s := store.sources.get_source_state("anna")) is not None and s.failures >= 3, what="failures"
        )
        state = store.sources.get_source_state("anna")
        assert state is not None
        assert state.state == "backoff"
        assert state.next_poll_at is not None
        assert state.last_error == f"cannot connect to 127.0.0.1:{server.port}: Connection refused"

        # When the server is back with mail, it is taken and the failures start over
        server.start()
        server.deliver("anna", message(1))
        wait_until(lambda: len(receipts(store)) == 1, what="the message after the server came back")
        wait_until(
            lambda: (s := store.sources.get_source_state("anna")) is not None and s.failures == 0, what="recovery"
        )


def test_a_password_file_is_read_at_each_connection(store: Store, server: Dovecot, tmp_path: Path) -> None:
    secret = tmp_path / "imap-password"
    box = mailbox(server, tmp_path, password=None, password_file=str(secret))
    p = poller(store, box)
    with pytest.raises(SourceError, match=r"cannot read password_file .*imap-password: No such file"):
        p.poll()
    secret.write_text(ANNA_PASSWORD + "\n")
    server.deliver("anna", message(1))
    assert p.poll().new == 1


# --- TLS ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_implicit_and_starttls(
    store: Store, make_dovecot: Callable[..., Dovecot], tls_files: tuple[Path, Path, Path], tmp_path: Path, tls: str
) -> None:
    chain, key, ca = tls_files
    server = make_dovecot(cert=(chain, key))
    server.add_user("anna", ANNA_PASSWORD)
    server.deliver("anna", message(1))
    port = server.tls_port if tls == "implicit" else server.port
    box = mailbox(server, tmp_path, tls=tls, port=port, tls_ca_file=str(ca))
    assert poller(store, box).poll().new == 1

    # A server whose certificate is not trusted is refused before the password is sent
    untrusted = mailbox(server, tmp_path, tls=tls, port=port)
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
        connect(untrusted)


# --- group mailboxes, mark_seen, move_to --------------------------------------------------------------------------


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
