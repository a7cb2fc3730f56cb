"""Applying plans that race: a skipped insert reuses the row created meanwhile, concurrent workers make one row."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from store import ApplyResult, LinkWrite, MessageWrite, Store
from store import apply as apply_module
from store.models import Lead, Link, Message, Participant
from tests.conftest import engine_events
from tests.store.apply.support import LEAD, Ids, bcc, count, inbound, inbound_row, linked, rows


def savepoint_rollbacks(store: Store) -> AbstractContextManager[list[str]]:
    return engine_events(store, "rollback_savepoint", lambda _conn, name, _context: name)


def test_a_message_created_meanwhile_is_used_when_the_insert_is_skipped(
    store: Store, ids: Ids, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.filing.apply_plan(inbound(store), linked(bcc(ids)))
    # Given a worker that looked for the message before the other one committed it
    real = apply_module._find_message
    calls: list[str] = []

    def stale(session: Session, m: MessageWrite) -> int | None:
        calls.append("looked for " + m.dedupe_key)
        return None

    def real_after_the_insert(session: Session, key: str) -> int | None:
        calls.append("found " + key)
        return real(session, key)

    monkeypatch.setattr(apply_module, "_same_email", stale)
    monkeypatch.setattr(apply_module, "_find_message", real_after_the_insert)
    late = dataclasses.replace(bcc(ids), links=(LinkWrite("user", "submitter", entity_id=ids.jan),))
    with savepoint_rollbacks(store) as rolled_back:
        result = store.filing.apply_plan(inbound(store), linked(late))

    # Then ON CONFLICT DO NOTHING skipped the insert (no error, nothing to roll back) and the winner's row is used
    assert (calls, rolled_back) == ([f"looked for {late.dedupe_key}", f"found {late.dedupe_key}"], [])
    assert (result.message_id, result.message_created, result.links_added) == (first.message_id, False, 1)
    assert (count(store, Message), count(store, Participant), count(store, Link)) == (1, 3, 5)


def test_a_lead_created_meanwhile_is_used_when_the_insert_is_skipped(
    store: Store, ids: Ids, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.filing.apply_plan(inbound(store), linked(bcc(ids, key="<one@x>")))
    # Given a worker that looked for the lead before the other one committed it
    monkeypatch.setattr(apply_module, "_existing_leads", lambda *_args: {})
    with savepoint_rollbacks(store) as rolled_back:
        second = store.filing.apply_plan(inbound(store), linked(bcc(ids, key="<two@x>")))

    # Then ON CONFLICT DO NOTHING skipped the insert (no error, nothing to roll back) and the existing lead is used
    assert rolled_back == []
    assert (second.message_created, second.leads_created) == (True, ())
    assert count(store, Lead) == 1
    lead_links = rows(store, Link.message_id, Link.entity_type)
    assert (first.message_id, "lead") in lead_links
    assert (second.message_id, "lead") in lead_links


@contextmanager
def meeting_before(store: Store, sql_prefix: str) -> Iterator[None]:
    """On PostgreSQL, make two workers reach ``sql_prefix`` together, so that both insert and one must lose.

    SQLite serializes writers from their first write (the receipt's claim), so there both simply run; waiting here
    would hold SQLite's write lock while the other worker waits for it.
    """
    if store.is_sqlite:
        yield
        return
    barrier = threading.Barrier(2, timeout=20)

    def meet(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith(sql_prefix):
            barrier.wait()

    event.listen(store.engine, "before_cursor_execute", meet)
    try:
        yield
    finally:
        event.remove(store.engine, "before_cursor_execute", meet)


def together(*calls: Callable[[], ApplyResult]) -> list[ApplyResult]:
    start = threading.Barrier(len(calls), timeout=20)

    def run(call: Callable[[], ApplyResult]) -> ApplyResult:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result(timeout=60) for f in [pool.submit(run, call) for call in calls]]


def test_two_receipts_of_one_email_at_once_make_one_message(store: Store, ids: Ids) -> None:
    # Given a BCC and a forward of the same email, processed by two workers at the same moment
    a, b = inbound(store), inbound(store, b"forwarded")
    forward = dataclasses.replace(
        bcc(ids, submitter=ids.jan),
        links=(LinkWrite("user", "submitter", entity_id=ids.jan), LinkWrite("lead", "new-lead", lead_address=LEAD)),
    )
    with savepoint_rollbacks(store) as rolled_back, meeting_before(store, "INSERT INTO messages"):
        results = together(
            lambda: store.filing.apply_plan(a, linked(bcc(ids))), lambda: store.filing.apply_plan(b, linked(forward))
        )

    # Then one created the message and the other used it; links are the union; one lead
    assert sorted(r.message_created for r in results) == [False, True]
    assert results[0].message_id == results[1].message_id
    assert all(r.applied for r in results)
    assert count(store, Message) == 1
    assert count(store, Lead) == 1
    assert count(store, Link) == 5
    assert sum(r.links_added for r in results) == 5
    assert inbound_row(store, a)[2] == inbound_row(store, b)[2] == results[0].message_id
    # On PostgreSQL both inserted at once (meeting_before): the loser's ON CONFLICT DO NOTHING waited for the
    # winner's commit and skipped, with no error and no savepoint to roll back
    assert rolled_back == []


def test_two_emails_from_one_new_address_at_once_make_one_lead(store: Store, ids: Ids) -> None:
    a, b = inbound(store), inbound(store, b"other")
    with savepoint_rollbacks(store) as rolled_back, meeting_before(store, "INSERT INTO leads"):
        results = together(
            lambda: store.filing.apply_plan(a, linked(bcc(ids, key="<one@x>"))),
            lambda: store.filing.apply_plan(b, linked(bcc(ids, key="<two@x>"))),
        )

    assert all(r.message_created for r in results)
    assert sorted(r.leads_created for r in results) == [(), (LEAD,)]
    assert count(store, Lead) == 1
    assert rows(store, Link.entity_type).count(("lead",)) == 2
    # On PostgreSQL both inserted at once (meeting_before): the loser's ON CONFLICT DO NOTHING waited for the
    # winner's commit and skipped, with no error and no savepoint to roll back
    assert rolled_back == []


def test_one_receipt_processed_by_two_workers_at_once_is_applied_once(store: Store, ids: Ids) -> None:
    receipt = inbound(store)

    results = together(*[lambda: store.filing.apply_plan(receipt, linked(bcc(ids)))] * 2)

    assert sorted(r.applied for r in results) == [False, True]
    assert (count(store, Message), count(store, Lead), count(store, Link)) == (1, 1, 4)
