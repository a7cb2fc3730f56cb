"""Applying a linker plan for one receipt: everything filed, idempotent, and committed without waiting for the disk."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from store import ApplyResult, PlanWrite, Store
from store.models import Attachment, Lead, Link, Message, MessageCode, Participant
from tests.conftest import engine_events
from tests.store.apply.support import (
    ANNA,
    KEY,
    LEAD,
    LOGO,
    PDF,
    Ids,
    bcc,
    count,
    inbound,
    inbound_row,
    linked,
    nothing_filed,
    rows,
)
from tests.support import has_blob, message_by_dedupe_key


def test_apply_files_the_message_with_everything(store: Store, ids: Ids) -> None:
    receipt = inbound(store)

    result = store.filing.apply_plan(receipt, PlanWrite(status="linked", reason="3 links", message=bcc(ids)))

    assert result == ApplyResult(
        applied=True, message_id=result.message_id, message_created=True, leads_created=(LEAD,), links_added=4
    )
    mid = result.message_id
    assert mid is not None and message_by_dedupe_key(store, KEY) == mid
    status, reason, message_id, processed_at = inbound_row(store, receipt)
    assert (status, reason, message_id) == ("linked", "3 links", mid)
    assert processed_at is not None
    assert store.receipts.get_inbound(receipt).status == "linked"  # type: ignore[union-attr]
    with Session(store.engine) as session:
        message = session.get(Message, mid)
        assert message is not None
        assert (message.subject, message.kind, message.direction) == ("OP-123 offer", "bcc", "outgoing")
        assert message.date == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
        assert message.submitter_user_id == ids.anna
    (lead,) = store.directory.find_people([LEAD]).leads.values()
    assert rows(store, Lead.address, Lead.name, Lead.owner_user_id, Lead.first_message_id) == [
        (LEAD, "Jan Nowak", ids.anna, mid)
    ]
    assert rows(store, Link.message_id, Link.entity_type, Link.entity_id, Link.reason) == sorted(
        [
            (mid, "contact", ids.piotr, "address"),
            (mid, "client", ids.acme, "address"),
            (mid, "record", ids.deal, "code"),
            (mid, "lead", lead.id, "new-lead"),
        ]
    )
    assert rows(store, Participant.role, Participant.address, Participant.internal, Participant.match_type) == [
        ("cc", LEAD, False, None),
        ("from", ANNA.email, True, "user"),
        ("to", "piotr@acme-logistics.pl", False, "contact"),
    ]
    assert rows(store, MessageCode.code, MessageCode.record_id) == [("OP-123", ids.deal), ("ZZ-9", None)]
    assert rows(store, Attachment.filename, Attachment.size, Attachment.sha256, Attachment.inline) == [
        (None, len(LOGO), hashlib.sha256(LOGO).hexdigest(), True),
        ("offer.pdf", len(PDF), hashlib.sha256(PDF).hexdigest(), False),
    ]
    assert store.content.get_blob(hashlib.sha256(PDF).hexdigest()) == PDF
    assert store.content.get_blob(hashlib.sha256(LOGO).hexdigest()) == LOGO
    # Small attachments commit with the plan, in the database: no file, no fsync of their own
    assert not store.blobs.exists(hashlib.sha256(LOGO).hexdigest())


def test_attachments_over_the_inline_limit_are_files(store: Store, ids: Ids) -> None:
    store.inline_max = len(LOGO)
    receipt = inbound(store)
    store.filing.apply_plan(receipt, PlanWrite(status="linked", reason="3 links", message=bcc(ids)))
    logo, pdf = hashlib.sha256(LOGO).hexdigest(), hashlib.sha256(PDF).hexdigest()
    assert not store.blobs.exists(logo) and store.blobs.exists(pdf)
    assert (store.content.get_blob(logo), store.content.get_blob(pdf)) == (LOGO, PDF)
    assert has_blob(store, logo) and has_blob(store, pdf) and not has_blob(store, "0" * 64)


def test_applying_a_receipt_twice_changes_nothing(store: Store, ids: Ids) -> None:
    receipt = inbound(store)
    first = store.filing.apply_plan(receipt, linked(bcc(ids)))

    again = store.filing.apply_plan(receipt, linked(bcc(ids, lead="someone.else@gmail.com")))

    assert again == ApplyResult(
        applied=False, message_id=first.message_id, message_created=False, leads_created=(), links_added=0
    )
    assert (count(store, Message), count(store, Lead), count(store, Link)) == (1, 1, 4)


def test_an_unknown_receipt_is_not_applied(store: Store, ids: Ids) -> None:
    result = store.filing.apply_plan("NO-SUCH-RECEIPT", linked(bcc(ids)))

    assert (result.applied, result.message_id) == (False, None)
    assert nothing_filed(store)


@pytest.mark.parametrize(("status", "reason"), [("ignored", "list-id"), ("failed", "ParseError: no headers")])
def test_a_plan_without_message_only_closes_the_receipt(store: Store, status: str, reason: str) -> None:
    receipt = inbound(store)

    result = store.filing.apply_plan(receipt, PlanWrite(status=status, reason=reason, message=None))

    assert result == ApplyResult(applied=True, message_id=None, message_created=False, leads_created=(), links_added=0)
    status_now, reason_now, message_id, processed_at = inbound_row(store, receipt)
    assert (status_now, reason_now, message_id) == (status, reason, None)
    assert processed_at is not None
    assert count(store, Message) == 0


def _durability(store: Store, engine: Any) -> str:
    """SQLite's ``synchronous`` (2 FULL, 1 NORMAL), or PostgreSQL's ``synchronous_commit``, of a pooled connection."""
    query = "PRAGMA synchronous" if store.is_sqlite else "SHOW synchronous_commit"
    with engine.connect() as conn:
        return str(conn.exec_driver_sql(query).scalar())


def test_a_plan_commits_without_waiting_for_the_disk_and_a_receipt_waits(store: Store, ids: Ids) -> None:
    receipt = inbound(store)
    # When a plan is applied
    with (
        engine_events(store, "commit", lambda conn: conn.engine) as commits,
        engine_events(store, "before_cursor_execute", lambda *args: args[2]) as statements,
    ):
        store.filing.apply_plan(receipt, linked(bcc(ids)))
    assert inbound_row(store, receipt)[0] == "linked"
    if store.is_sqlite:
        # Then on SQLite it commits on the pool that does not fsync each commit; receipts use the one that does
        assert commits == [store.database.linking_engine] and store.database.linking_engine is not store.engine
        assert (_durability(store, store.database.linking_engine), _durability(store, store.engine)) == ("1", "2")
    else:
        # On PostgreSQL, with an asynchronous commit for this transaction only
        assert statements[0] == "SET LOCAL synchronous_commit TO OFF", statements[:3]
        assert _durability(store, store.engine) == "on"
