"""One email, two receipts: the same client mail attached by one user and forwarded inline by another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from linker.model import Mailbox, Original
from linker.pipeline import content_key, dedupe_key
from linker.settings import LinkerSettings
from linker.tasks import Processor, QueueSettings, linker_pipeline
from store import Store
from store.models import Inbound, Link, Message
from store.views import ClientRow, ContactRow, MessageWrite, PlanWrite, UserRow
from tests.conftest import FIXTURES

E2E = FIXTURES / "e2e"
SETTINGS = LinkerSettings.build(assistant_addresses=["assistant@crm.example.com"], organization_domains=["example.com"])


def _original(body: str, date: datetime | None, message_id: str | None = None) -> Original:
    sender = Mailbox("Jan Kowalski", "jan.kowalski@acme-logistics.pl")
    return Original(sender, (), (), date, "Re: Oferta", message_id, body, None, None)


def test_attached_and_inline_copies_are_one_message(store: Store) -> None:
    store.apply_users(
        [
            UserRow(2, "anna.nowak@example.com", "Anna Nowak", None, "all"),
            UserRow(3, "piotr.zielinski@example.com", "Piotr Zieliński", None, "all"),
        ]
    )
    store.apply_clients([ClientRow(2, "Acme Logistics", ("acme-logistics.pl",), ())])
    store.apply_contacts([ContactRow(2, "Jan Kowalski", ("jan.kowalski@acme-logistics.pl",), "Acme Logistics")])
    processor = Processor(store, QueueSettings(), linker_pipeline(SETTINGS, store))
    ids = []
    for name, sender in [
        ("same_claim_attached_by_piotr.eml", "piotr.zielinski@example.com"),
        ("same_claim_inline_by_anna.eml", "anna.nowak@example.com"),
    ]:
        inbound = store.add_inbound((E2E / name).read_bytes(), mail_from=sender, rcpt_tos=["assistant@crm.example.com"])
        processor.process_now(inbound.id)
        ids.append(inbound.id)
    with Session(store.engine) as s:
        messages = s.scalars(select(Message)).all()
        assert len(messages) == 1
        assert messages[0].message_id_header == "claim-1411-7781@acme-logistics.pl"
        assert [s.get(Inbound, i).message_id for i in ids] == [messages[0].id] * 2  # type: ignore[union-attr]
        submitters = sorted(
            s.scalars(select(Link.entity_id).where(Link.entity_type == "user", Link.message_id == messages[0].id))
        )
    # Links are unioned: both users who submitted it are on it
    assert len(submitters) == 2


def test_short_or_distant_emails_are_never_merged() -> None:
    monday = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    friday = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    # "Thanks" says too little to be recognised by content
    assert content_key(_original("Dziękuję!", monday)) is None
    # Without Message-IDs, the same words on different days are different emails
    body = "Potwierdzam odbiór dokumentów, dziękuję za szybką odpowiedź i pozdrawiam serdecznie."
    assert dedupe_key(_original(body, monday)) != dedupe_key(_original(body, friday))
    # but the content key is the same, so the store can merge copies whose dates are close
    assert content_key(_original(body, monday)) == content_key(_original("  " + body.replace(" ", "\n"), friday))
    assert dedupe_key(_original(body, monday, "<A@x>")) == "mid:a@x"


def _write(key: str, date: datetime) -> PlanWrite:
    message = MessageWrite(
        dedupe_key=key, message_id_header=None, subject="s", date=date, from_name=None, from_address="a@b.test",
        direction="incoming", kind="forward", submitter_user_id=None, body_text="b", body_html=None, note=None,
        raw_sha256="0" * 64, content_key="c" * 64,
    )  # fmt: skip
    return PlanWrite("linked", None, message)


def test_same_content_merges_only_within_the_date_window(store: Store) -> None:
    base = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    results = []
    for key, date in [
        ("mid:one", base),
        ("sha:two", base + timedelta(hours=2)),
        ("sha:three", base + timedelta(hours=30)),
    ]:
        inbound = store.add_inbound(key.encode(), mail_from="", rcpt_tos=["x@y.z"])
        results.append(store.apply_plan(inbound.id, _write(key, date)))
    assert [r.message_created for r in results] == [True, False, True]
    assert results[0].message_id == results[1].message_id != results[2].message_id
