"""Mailbox sources in the store: the poller's lease, where each folder resumes, and the poll record."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from store import Store
from store.models import utcnow


def test_one_poller_at_a_time_holds_a_source(store: Store) -> None:
    assert store.sources.claim_source("anna", "poller-a", lease=60)
    # Another poller cannot take it while the lease runs; the holder renews it
    assert not store.sources.claim_source("anna", "poller-b", lease=60)
    assert store.sources.claim_source("anna", "poller-a", lease=60)
    # Other sources are free
    assert store.sources.claim_source("support", "poller-b", lease=60)

    state = store.sources.get_source_state("anna")
    assert state is not None
    assert state.lease_owner == "poller-a"
    assert state.state == "new"
    assert state.leased(utcnow())

    # Released (a poller stopping): it is stopped, and anyone may take it
    assert store.sources.release_source("anna", "poller-a")
    assert not store.sources.release_source("anna", "poller-a")
    assert store.sources.get_source_state("anna").state == "stopped"  # type: ignore[union-attr]
    assert store.sources.claim_source("anna", "poller-b", lease=60)


def test_a_lease_that_ran_out_is_anyones(store: Store) -> None:
    assert store.sources.claim_source("anna", "poller-a", lease=0.05)
    time.sleep(0.1)
    assert store.sources.claim_source("anna", "poller-b", lease=60)
    # The old holder's writes are refused from then on
    assert store.sources.start_folder("anna", "INBOX", 7, "poller-a") is None
    assert not store.sources.record_source_poll("anna", "poller-a", state="waiting", finished=True)


def test_a_folder_resumes_after_its_last_uid_and_starts_over_when_uidvalidity_changes(store: Store) -> None:
    assert store.sources.claim_source("anna", "p", lease=60)
    first = store.sources.start_folder("anna", "INBOX", 1000, "p")
    assert first is not None
    assert (first.uidvalidity, first.last_uid, first.reset) == (1000, 0, True)

    assert store.sources.record_folder_progress("anna", "INBOX", "p", uidvalidity=1000, last_uid=5, taken=5)
    # last_uid never goes down
    assert store.sources.record_folder_progress("anna", "INBOX", "p", uidvalidity=1000, last_uid=3, taken=0)
    again = store.sources.start_folder("anna", "INBOX", 1000, "p")
    assert again is not None
    assert (again.last_uid, again.messages_taken, again.reset) == (5, 5, False)

    # Progress under another UIDVALIDITY is not recorded
    assert not store.sources.record_folder_progress("anna", "INBOX", "p", uidvalidity=999, last_uid=9, taken=1)

    # The server's UIDVALIDITY changed: the folder starts over
    reset = store.sources.start_folder("anna", "INBOX", 2000, "p")
    assert reset is not None
    assert (reset.uidvalidity, reset.last_uid, reset.resets, reset.reset) == (2000, 0, 1, True)
    # UIDs and UIDVALIDITY are 32-bit unsigned
    big = 2**32 - 1
    assert store.sources.start_folder("anna", "Sent", big, "p") is not None
    assert store.sources.record_folder_progress("anna", "Sent", "p", uidvalidity=big, last_uid=big, taken=1)

    state = store.sources.get_source_state("anna")
    assert state is not None
    assert state.messages_taken == 6
    assert [(f.folder, f.uidvalidity, f.last_uid) for f in state.folders] == [("INBOX", 2000, 0), ("Sent", big, big)]


def test_a_poll_record_keeps_the_last_error_and_counts_failures_in_a_row(store: Store) -> None:
    assert store.sources.claim_source("anna", "p", lease=60)
    retry = utcnow() + timedelta(seconds=30)
    assert store.sources.record_source_poll(
        "anna", "p", state="backoff", error="connection refused", next_poll_at=retry, finished=True
    )
    assert store.sources.record_source_poll("anna", "p", state="backoff", error="x" * 5000, finished=True)
    state = store.sources.get_source_state("anna")
    assert state is not None
    assert (state.state, state.failures, len(state.last_error or "")) == ("backoff", 2, 1000)
    assert state.last_poll_at is not None
    assert state.last_ok_at is None

    assert store.sources.record_source_poll("anna", "p", state="waiting", finished=True)
    state = store.sources.get_source_state("anna")
    assert state is not None
    # The last error stays for people to read; the failures start over
    assert (state.state, state.failures, state.last_error) == ("waiting", 0, "x" * 1000)
    assert state.last_ok_at is not None

    with pytest.raises(ValueError, match="unknown source state"):
        store.sources.record_source_poll("anna", "p", state="sleeping")


def test_sources_are_listed_by_name(store: Store) -> None:
    for name in ("support", "anna"):
        assert store.sources.claim_source(name, "p", lease=60)
    assert [s.name for s in store.sources.list_source_states()] == ["anna", "support"]
    assert store.sources.get_source_state("nobody") is None
