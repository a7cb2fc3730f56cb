"""IMAP sources against a real Dovecot: a wrong password, a server that is down, and a password file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mailassist.imap import Pollers, SourceError, connect
from store import Store
from tests.mailassist.dovecot import Dovecot
from tests.mailassist.imap.support import (
    ANNA_PASSWORD,
    BOB,
    SUPPORT_PASSWORD,
    ingestor,
    mailbox,
    message,
    poller,
    receipts,
    running,
    subjects,
    wait_until,
)

pytestmark = pytest.mark.slow


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
