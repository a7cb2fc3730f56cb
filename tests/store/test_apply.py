"""Applying a linker plan: one transaction, idempotent per receipt and per email, safe under concurrent receipts."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from store import (
    ApplyResult,
    AttachmentWrite,
    CodeWrite,
    LeadWrite,
    LinkWrite,
    MessageWrite,
    ParticipantWrite,
    PlanError,
    PlanWrite,
    Store,
    StoreUnavailableError,
)
from store import apply as apply_module
from store.models import Attachment, Base, Inbound, Lead, Link, Message, MessageCode, Participant
from store.shapes import ClientRow, ContactRow, RecordRow, UserRow
from tests.conftest import engine_events
from tests.support import has_blob, message_by_dedupe_key

ANNA = UserRow(line=2, email="anna@crm.example.com", name="Anna Nowak", team="PL", role="all")
JAN = UserRow(line=3, email="jan@crm.example.com", name="Jan Novák", team="CZ", role="team")
ACME = ClientRow(line=2, name="Acme Logistics", domains=("acme-logistics.pl",))
PIOTR = ContactRow(line=2, name="Piotr Zieliński", emails=("piotr@acme-logistics.pl",), client=ACME.name)
DEAL = RecordRow(line=2, code="OP-123", type="deal", title="Fleet renewal", client=ACME.name)
KEY = "<CAF=x1@mail.acme-logistics.pl>"
LEAD = "nowak@gmail.com"
PDF = b"%PDF-1.7 offer"
LOGO = b"\x89PNG logo"


@dataclasses.dataclass(frozen=True)
class Ids:
    anna: int
    jan: int
    acme: int
    piotr: int
    deal: int


@pytest.fixture
def ids(store: Store) -> Ids:
    store.directory.apply_users([ANNA, JAN])
    store.directory.apply_clients([ACME])
    store.directory.apply_contacts([PIOTR])
    store.directory.apply_records([DEAL])
    users = store.directory.find_users_by_addresses([ANNA.email, JAN.email])
    piotr = store.directory.find_people(["piotr@acme-logistics.pl"]).contacts["piotr@acme-logistics.pl"]
    assert piotr.client_id is not None
    deal = store.directory.find_records_by_codes(["OP-123"])["OP-123"].id
    return Ids(users[ANNA.email].id, users[JAN.email].id, piotr.client_id, piotr.id, deal)


def inbound(store: Store, raw: bytes = b"Subject: x\r\n\r\nbody\r\n") -> str:
    return store.receipts.add_inbound(raw, mail_from=ANNA.email, rcpt_tos=["assistant@crm.example.com"]).id


def attachment(data: bytes, filename: str | None, content_type: str, *, inline: bool = False) -> AttachmentWrite:
    sha = hashlib.sha256(data).hexdigest()
    cid = "<logo@x>" if inline else None
    return AttachmentWrite(filename, content_type, len(data), sha, cid, inline, data)


def bcc(ids: Ids, *, key: str = KEY, lead: str = LEAD, submitter: int | None = None) -> MessageWrite:
    """Anna writes to Piotr (a contact) and to an unknown address (a new lead) about deal OP-123."""
    return MessageWrite(
        dedupe_key=key,
        message_id_header=key,
        subject="OP-123 offer",
        date=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        from_name="Anna Nowak",
        from_address=ANNA.email,
        direction="outgoing",
        kind="bcc",
        submitter_user_id=submitter or ids.anna,
        body_text="Dzień dobry",
        body_html=None,
        note=None,
        raw_sha256="a" * 64,
        participants=(
            ParticipantWrite("from", ANNA.email, "Anna Nowak", True, "user", ids.anna, "user"),
            ParticipantWrite("to", "piotr@acme-logistics.pl", "Piotr", False, "contact", ids.piotr, "contact"),
            ParticipantWrite("cc", lead, "Jan Nowak", False, None, None, None),
        ),
        links=(
            LinkWrite("contact", "address", entity_id=ids.piotr),
            LinkWrite("client", "address", entity_id=ids.acme),
            LinkWrite("record", "code", entity_id=ids.deal),
            LinkWrite("lead", "new-lead", lead_address=lead),
            LinkWrite("client", "code", entity_id=ids.acme),  # the same entity again: the first reason wins
        ),
        new_leads=(LeadWrite(lead, "Jan Nowak", None, submitter or ids.anna),),
        codes=(CodeWrite("OP-123", ids.deal), CodeWrite("ZZ-9", None)),
        attachments=(attachment(PDF, "offer.pdf", "application/pdf"), attachment(LOGO, None, "image/png", inline=True)),
    )


def linked(message: MessageWrite | None) -> PlanWrite:
    return PlanWrite(status="linked", reason=None, message=message)


def count(store: Store, model: type[Base]) -> int:
    with Session(store.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def rows(store: Store, *columns: Any) -> list[tuple[Any, ...]]:
    with Session(store.engine) as session:
        # None sorts first, so that nullable columns compare.
        return sorted(
            (tuple(r) for r in session.execute(select(*columns))), key=lambda r: [(v is not None, v) for v in r]
        )


def inbound_row(store: Store, inbound_id: str) -> tuple[str, str | None, int | None, datetime | None]:
    with Session(store.engine) as session:
        row = session.get(Inbound, inbound_id)
        assert row is not None
        return row.status, row.reason, row.message_id, row.processed_at


def nothing_filed(store: Store) -> bool:
    models: list[type[Base]] = [Message, Participant, Link, Lead, MessageCode, Attachment]
    return all(count(store, model) == 0 for model in models)


# --- one receipt ------------------------------------------------------------------------------------------------


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


# --- durability: a receipt's commit waits for the disk, a plan's need not -----------------------------------------


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


# --- the same email, received twice ---------------------------------------------------------------------------


def test_second_receipt_of_an_email_unions_links_and_reuses_leads(store: Store, ids: Ids) -> None:
    # Given Anna's BCC is filed
    bcc_receipt, forward_receipt = inbound(store), inbound(store, b"forwarded")
    first = store.filing.apply_plan(bcc_receipt, linked(bcc(ids)))
    # When Jan forwards the same email: other participants, one new link, and the same "new" lead
    forward = dataclasses.replace(
        bcc(ids, submitter=ids.jan),
        kind="forward",
        participants=(ParticipantWrite("from", JAN.email, None, True, "user", ids.jan, "user"),),
        links=(
            LinkWrite("contact", "address", entity_id=ids.piotr),
            LinkWrite("user", "submitter", entity_id=ids.jan),
            LinkWrite("lead", "new-lead", lead_address=LEAD),
        ),
        codes=(),
        attachments=(),
    )
    second = store.filing.apply_plan(forward_receipt, linked(forward))

    # Then there is one message, written once, with the links of both receipts and one lead
    assert second == ApplyResult(
        applied=True, message_id=first.message_id, message_created=False, leads_created=(), links_added=1
    )
    assert count(store, Message) == 1
    assert rows(store, Message.kind, Message.submitter_user_id) == [("bcc", ids.anna)]
    assert count(store, Participant) == 3
    assert (count(store, MessageCode), count(store, Attachment)) == (2, 2)
    assert rows(store, Lead.address, Lead.owner_user_id) == [(LEAD, ids.anna)]
    assert rows(store, Link.entity_type) == [("client",), ("contact",), ("lead",), ("record",), ("user",)]
    assert inbound_row(store, bcc_receipt)[2] == inbound_row(store, forward_receipt)[2] == first.message_id


def test_a_lead_is_shared_by_every_email_from_its_address(store: Store, ids: Ids) -> None:
    first = store.filing.apply_plan(inbound(store), linked(bcc(ids, key="<one@x>")))

    second = store.filing.apply_plan(inbound(store), linked(bcc(ids, key="<two@x>", submitter=ids.jan)))

    assert (first.leads_created, second.leads_created) == ((LEAD,), ())
    assert second.message_created
    assert rows(store, Lead.address, Lead.owner_user_id, Lead.first_message_id) == [(LEAD, ids.anna, first.message_id)]
    (lead_id,) = [lead.id for lead in store.directory.find_people([LEAD]).leads.values()]
    assert rows(store, Link.message_id).count((second.message_id,)) == 4
    assert (second.message_id, "lead", lead_id) in rows(store, Link.message_id, Link.entity_type, Link.entity_id)


# --- losing a race: the skipped insert, forced on both backends ---------------------------------------------------


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


# --- concurrent workers -----------------------------------------------------------------------------------------


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


# --- all or nothing ---------------------------------------------------------------------------------------------


def test_a_database_error_mid_apply_leaves_nothing(store: Store, ids: Ids) -> None:
    receipt = inbound(store)
    # Given a plan whose code points at a record that does not exist (a foreign-key violation after the message)
    broken = dataclasses.replace(bcc(ids), codes=(CodeWrite("OP-999", 999_999),))

    with pytest.raises(StoreUnavailableError):
        store.filing.apply_plan(receipt, linked(broken))

    assert nothing_filed(store)
    assert inbound_row(store, receipt)[:3] == ("queued", None, None)
    # And a retry with a sound plan succeeds
    assert store.filing.apply_plan(receipt, linked(bcc(ids))).applied


def test_a_failure_after_the_leads_leaves_nothing(store: Store, ids: Ids, monkeypatch: pytest.MonkeyPatch) -> None:
    receipt = inbound(store)

    def fail(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("links went wrong")

    monkeypatch.setattr(apply_module, "_links", fail)
    with pytest.raises(RuntimeError):
        store.filing.apply_plan(receipt, linked(bcc(ids)))

    assert nothing_filed(store)
    assert inbound_row(store, receipt)[0] == "queued"


def test_a_plan_must_end_in_a_final_status(store: Store) -> None:
    receipt = inbound(store)

    with pytest.raises(PlanError, match="not a final status"):
        store.filing.apply_plan(receipt, PlanWrite(status="queued", reason=None))

    assert inbound_row(store, receipt)[0] == "queued"


def test_malformed_links_and_attachments_are_refused_before_any_write(store: Store, ids: Ids) -> None:
    receipt = inbound(store)
    good = bcc(ids)
    bad_links = [
        LinkWrite("lead", "new-lead", lead_address="not-in-the-plan@gmail.com"),
        LinkWrite("contact", "address"),
        LinkWrite("lead", "new-lead", entity_id=1, lead_address=LEAD),
        LinkWrite("contact", "address", lead_address=LEAD),
    ]
    for link in bad_links:
        with pytest.raises(PlanError):
            store.filing.apply_plan(receipt, linked(dataclasses.replace(good, links=(link,))))
    wrong_hash = dataclasses.replace(good.attachments[0], sha256="0" * 64)
    with pytest.raises(PlanError, match="sha256"):
        store.filing.apply_plan(receipt, linked(dataclasses.replace(good, attachments=(wrong_hash,))))

    assert nothing_filed(store)
    assert inbound_row(store, receipt)[0] == "queued"


def test_attachments_are_fsynced_then_their_directories_once(
    store: Store, ids: Ids, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.inline_max = 0  # both attachments files, as large ones are
    receipt = inbound(store)
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    store.filing.apply_plan(receipt, linked(bcc(ids)))
    files = [kind for kind in synced if kind == "file"]
    # Given two attachments: each file synced, then each directory of theirs once (two leaves, two fan-outs,
    # one root), not the chain again per file
    assert synced[: len(files)] == ["file", "file"]
    assert synced.count("dir") == 5
    for a in bcc(ids).attachments:
        assert store.content.get_blob(a.sha256) == a.data
