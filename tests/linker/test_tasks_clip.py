"""linker/tasks.py's ``outcome_of``: subjects and display names are stored clipped; the raw message keeps them."""

from __future__ import annotations

from datetime import UTC, datetime

from linker.pipeline import Envelope, run_pipeline
from linker.tasks import MAX_BODY_LENGTH, MAX_HTML_LENGTH, MAX_NAME_LENGTH, MAX_SUBJECT_LENGTH, outcome_of
from store import InboundView
from tests.linker.support import ANNA, ASSISTANT, SETTINGS, directory


def inbound() -> InboundView:
    now = datetime.now(UTC)
    return InboundView(
        id="r1", received_at=now, mail_from=ANNA.email, rcpt_tos=(ASSISTANT,), peer=None, helo=None,
        size=0, sha256="0" * 64, status="queued", attempts=0, last_error=None, reason=None, updated_at=now,
        processed_at=None,
    )  # fmt: skip


def test_long_subject_and_names_are_clipped() -> None:
    # Given a BCC copy whose subject is 20,000 characters and whose names are 5,000
    long_name = "N" * 5_000
    raw = (
        f"From: {long_name} <anna.nowak@example.com>\r\nTo: {long_name} <client@customer.example>\r\n"
        f"Bcc: {ASSISTANT}\r\n"
        f"Subject: {'s' * 20_000}\r\nMessage-ID: <clip@example.com>\r\n\r\nHello\r\n"
    ).encode()
    plan = run_pipeline(raw, envelope=Envelope(ANNA.email, (ASSISTANT,)), settings=SETTINGS, directory=directory())
    # when it is turned into the store's write
    outcome = outcome_of(plan, inbound())
    # then the stored copies are clipped
    assert outcome.write is not None and outcome.write.message is not None
    message = outcome.write.message
    assert message.subject == "s" * MAX_SUBJECT_LENGTH
    assert message.from_name == "N" * MAX_NAME_LENGTH
    assert message.participants and all(len(p.name or "") <= MAX_NAME_LENGTH for p in message.participants)
    assert any(p.name == "N" * MAX_NAME_LENGTH for p in message.participants)
    assert all(len(lead.name or "") <= MAX_NAME_LENGTH for lead in message.new_leads)


def test_short_values_are_kept() -> None:
    raw = (
        f"From: Anna Nowak <anna.nowak@example.com>\r\nTo: Ann <client@customer.example>\r\nBcc: {ASSISTANT}\r\n"
        "Subject: Oferta\r\n\r\nHello\r\n"
    ).encode()
    plan = run_pipeline(raw, envelope=Envelope(ANNA.email, (ASSISTANT,)), settings=SETTINGS, directory=directory())
    outcome = outcome_of(plan, inbound())
    assert outcome.write is not None and outcome.write.message is not None
    assert (outcome.write.message.subject, outcome.write.message.from_name) == ("Oferta", "Anna Nowak")


def test_huge_bodies_are_stored_clipped_and_the_dedupe_key_reads_all_of_it() -> None:
    # Given a BCC copy with 3 Mi characters of text and of HTML
    body = "Oferta na krzesła. " * (3 * MAX_BODY_LENGTH // 19)
    raw = (
        f"From: Anna Nowak <anna.nowak@example.com>\r\nTo: client@customer.example\r\nBcc: {ASSISTANT}\r\n"
        "Subject: Oferta\r\nMessage-ID: <big@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        f"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{body}</p>\r\n--b--\r\n"
    ).encode()
    plan = run_pipeline(raw, envelope=Envelope(ANNA.email, (ASSISTANT,)), settings=SETTINGS, directory=directory())
    outcome = outcome_of(plan, inbound())
    assert outcome.write is not None and outcome.write.message is not None
    message = outcome.write.message
    # Then the stored copies are cut (the raw message keeps everything); the identity is the whole email's
    assert len(message.body_text or "") == MAX_BODY_LENGTH
    assert len(message.body_html or "") == MAX_HTML_LENGTH
    assert plan.original is not None and len(plan.original.body or "") > MAX_BODY_LENGTH
    assert message.dedupe_key == plan.dedupe_key
