"""``Ingestor.ingest_many``: several messages of one voucher in one group commit (an IMAP back-fill's batch)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from gateway.ingest import Ingested, Ingestor, Voucher
from gateway.trust import Refuse
from store import Store, StoreUnavailableError
from store.shapes import UserRow
from tests.conftest import sql_statements

ANNA = "anna.nowak@example.com"


def message(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "tomasz@acme-logistics.example.pl"
    msg["To"] = ANNA
    msg["Subject"] = f"Offer {n}"
    msg["Message-ID"] = f"<offer-{n}@acme-logistics.example.pl>"
    msg.set_content(f"Offer number {n}.\n")
    return msg.as_bytes()


@pytest.fixture
def ingestor(sqlite_store: Store) -> Ingestor:
    sqlite_store.directory.apply_users([UserRow(2, ANNA, "Anna Nowak", None, "all")])
    woken: list[str] = []
    made = Ingestor(sqlite_store, enqueue=woken.extend, max_size=4096)
    made.woken = woken  # type: ignore[attr-defined]
    return made


def test_a_batch_commits_in_one_transaction_with_each_message_answered(ingestor: Ingestor, sqlite_store: Store) -> None:
    voucher = Voucher(ANNA, "imap:personal", "test")
    taken_before = ingestor.ingest(message(0), source="imap:t", voucher=voucher)
    assert isinstance(taken_before, Ingested)
    batch = [message(1), b"\x89PNG not mail", message(2), message(1), message(0), message(3) + b"x" * 5000]

    with sql_statements(sqlite_store) as seen:
        outcomes = ingestor.ingest_many(batch, source="imap:t", voucher=voucher)

    first, png, second, repeat, earlier, big = outcomes
    assert isinstance(first, Ingested) and not first.duplicate
    assert isinstance(second, Ingested) and not second.duplicate
    assert isinstance(png, Refuse) and png.reason == "not_an_email"
    assert isinstance(big, Refuse) and big.reason == "too_big"
    # The same bytes twice in one batch: one receipt, the second a duplicate of it; and one taken before
    assert isinstance(repeat, Ingested) and repeat.duplicate and repeat.inbound_id == first.inbound_id
    assert isinstance(earlier, Ingested) and earlier.duplicate and earlier.inbound_id == taken_before.inbound_id
    assert len(sqlite_store.receipts.list_inbound()) == 3
    assert sum(1 for s in seen if s.lstrip().upper().startswith("INSERT INTO INBOUND")) == 1
    assert ingestor.woken == [taken_before.inbound_id, first.inbound_id, second.inbound_id]  # type: ignore[attr-defined]


def test_an_unknown_voucher_refuses_every_message(ingestor: Ingestor) -> None:
    outcomes = ingestor.ingest_many([message(1), message(2)], source="imap:t", voucher=Voucher("x@y.z", "file", "t"))
    assert [o.reason for o in outcomes if isinstance(o, Refuse)] == ["unknown_submitter"] * 2


def test_a_failed_commit_raises(ingestor: Ingestor, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(batch: object) -> list[StoreUnavailableError]:
        return [StoreUnavailableError("database is locked")] * len(batch)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_store.receipts, "add_inbound_batch", down)
    with pytest.raises(StoreUnavailableError, match="database is locked"):
        ingestor.ingest_many([message(1), message(2)], source="imap:t", voucher=Voucher(ANNA, "file", "t"))
