"""The viewer's ingest log: errors and reasons by status, and how each receipt was proven."""

from __future__ import annotations

from store import Store
from tests.store.world import ADA, ANNA, World
from tests.web.pages_support import ClientFor


def test_ingest_log_shows_errors_and_reasons_by_status(store: Store, world: World, client_for: ClientFor) -> None:
    failed = store.receipts.add_inbound(
        b"broken", mail_from="anna@crm.example.com", rcpt_tos=["assistant@crm.example.com"]
    )
    assert store.receipts.mark_attempt_failed(failed.id, "ParseError: no From header", max_attempts=1) == "failed"
    ignored = store.receipts.add_inbound(b"news", mail_from="news@example.org", rcpt_tos=["assistant@crm.example.com"])
    assert store.receipts.mark_processed(ignored.id, "ignored", reason="List-Id header: a mailing list")
    ada = client_for(ADA.email)

    everything = ada.get("/inbound").text
    only_failed = ada.get("/inbound?status=failed").text
    only_ignored = ada.get("/inbound?status=ignored").text

    assert failed.id in everything and ignored.id in everything
    assert "ParseError: no From header" in only_failed and ignored.id not in only_failed
    assert "List-Id header: a mailing list" in only_ignored and failed.id not in only_ignored
    assert "failed (1)" in everything
    assert "ParseError: no From header" in ada.get("/").text  # the dashboard's recent failures


def test_ingest_log_rejects_a_bad_status(world: World, client_for: ClientFor) -> None:
    response = client_for(ADA.email).get("/inbound?status=lost")
    assert response.status_code == 400
    assert "status: must be one of queued, linked, ignored, failed" in response.text
    assert client_for(ADA.email).get("/inbound?limit=0").status_code == 400


def test_message_page_shows_how_each_receipt_was_proven(world: World, store: Store, client_for: ClientFor) -> None:
    from store import Trust
    from tests.store.world import file_message

    checks = [
        {"method": "arc", "result": "pass", "domain": "microsoft.com", "selector": "arcselector9901", "detail": ""}
    ]
    auth = {"route": "mailbox", "via": "X-MS-Exchange-Inbox-Rules-Loop", "detail": "arc pass d=microsoft.com"}
    message_id = file_message(
        store,
        submitter=(ANNA.email, world.users[ANNA.email]),
        key="<redirected@acme.test>",
        subject="Redirected",
        date=None,
        trust=Trust(ANNA.email, "arc", {**auth, "checks": checks}),
    )

    page = client_for(ADA.email).get(f"/messages/{message_id}")

    assert page.status_code == 200
    assert 'class="tag proof-arc">arc</span>' in page.text
    assert "arc pass d=microsoft.com" in page.text
    assert 'class="tag result-pass">ARC pass</span>' in page.text
    # A receipt from before the gateway recorded it says so
    old = client_for(ADA.email).get(f"/messages/{world.m['deal']}")
    assert "not recorded" in old.text
