"""Who submitted a message: every address that may name the user, in the order tried, and the user it names."""

from __future__ import annotations

import pytest

from linker.classify import Submission, find_submission
from linker.pipeline import Envelope, plan_message
from linker.submitter import (
    Candidate,
    envelope_candidates,
    lookup_keys,
    pick_submitter,
    submitter_candidates,
    without_plus_tag,
)
from tests.linker.support import ANNA, ASSISTANT, SETTINGS, directory, mail

JAN = "Jan Kowalski <jan.kowalski@acme-logistics.pl>"


def submission_of(text: str, mail_from: str) -> Submission | None:
    message = mail(text)
    candidates = submitter_candidates(mail_from, message.header_all)
    return find_submission(candidates, directory().find_users_by_addresses(lookup_keys(candidates)))


def test_candidates_come_envelope_first_then_sender_headers_then_mailbox_headers() -> None:
    message = mail(
        f"""\
Delivered-To: oferty@example.com
From: {JAN}
To: "Sprzedaż" <sales@example.com>, Anna Nowak <ANNA.NOWAK@example.com>
Cc: piotr.zielinski@example.com
Resent-From: Anna Nowak <anna@example.com>
Resent-To: {ASSISTANT}
X-Forwarded-For: anna.nowak@example.com {ASSISTANT}
Subject: Zapytanie

Dzień dobry.
"""
    )

    candidates = submitter_candidates("<SRS0=x1Qz=KC=acme-logistics.pl=jan.kowalski@example.com>", message.header_all)

    # Each address once per header that names it (a provider's pass vouches only for its own trace headers); the
    # X-Forwarded-For pair is split on the space
    assert candidates == [
        Candidate("srs0=x1qz=kc=acme-logistics.pl=jan.kowalski@example.com", "envelope"),
        Candidate("jan.kowalski@acme-logistics.pl", "From"),
        Candidate("anna@example.com", "Resent-From"),
        Candidate("sales@example.com", "To"),
        Candidate("anna.nowak@example.com", "To"),
        Candidate("piotr.zielinski@example.com", "Cc"),
        Candidate("oferty@example.com", "Delivered-To"),
        Candidate("anna.nowak@example.com", "X-Forwarded-For"),
        Candidate(ASSISTANT, "X-Forwarded-For"),
        Candidate(ASSISTANT, "Resent-To"),
    ]


@pytest.mark.parametrize(
    ("mail_from", "headers", "expected"),
    [
        pytest.param(
            # Gmail's automatic forwarding: the envelope is the user's, with a +caf_ tag; the headers name nobody
            "anna.nowak+caf_=assistant=crm.example.com@example.com",
            f"From: {JAN}\nTo: sales@example.com\n",
            Submission("anna.nowak@example.com", "envelope", ANNA),
            id="envelope",
        ),
        pytest.param(
            # Sent through a mailing tool with its own bounce address, From the user's alias
            "bounce-7781-anna=example.com@mailer.crm-tools.net",
            f"From: Anna Nowak <Anna@Example.com>\nTo: {JAN}\n",
            Submission("anna@example.com", "From", ANNA),
            id="alias-in-From",
        ),
        pytest.param(
            # A mailbox rule on a shared address: only the final mailbox names the user
            "SRS0=x1Qz=KC=acme-logistics.pl=jan.kowalski@example.com",
            f"Delivered-To: anna.nowak@example.com\nFrom: {JAN}\nTo: sales@example.com\n",
            Submission("anna.nowak@example.com", "Delivered-To", ANNA),
            id="Delivered-To",
        ),
        pytest.param(
            "jan.kowalski@acme-logistics.pl",
            f"From: {JAN}\nTo: oferty@example.com\nX-Forwarded-To: anna.nowak@example.com\n",
            Submission("anna.nowak@example.com", "X-Forwarded-To", ANNA),
            id="X-Forwarded-To",
        ),
        pytest.param(
            # Gmail forwarding: X-Forwarded-For is "whose mailbox, forwarded to where", space-separated
            "jan.kowalski@acme-logistics.pl",
            f"From: {JAN}\nTo: oferty@example.com\nX-Forwarded-To: {ASSISTANT}\n"
            f"X-Forwarded-For: anna.nowak@example.com {ASSISTANT}\n",
            Submission("anna.nowak@example.com", "X-Forwarded-For", ANNA),
            id="X-Forwarded-For",
        ),
        pytest.param(
            # A Thunderbird "Redirect" of a client's mail, read from a file (no envelope): Resent-From is the alias
            "",
            f"From: {JAN}\nTo: oferty@example.com\nResent-From: Anna Nowak <anna@example.com>\n"
            f"Resent-To: {ASSISTANT}\nResent-Date: Mon, 4 Mar 2024 10:00:00 +0100\n",
            Submission("anna@example.com", "Resent-From", ANNA),
            id="Resent-From",
        ),
    ],
)
def test_the_submitter_is_found_wherever_the_user_appears(mail_from: str, headers: str, expected: Submission) -> None:
    text = headers + "Subject: Zapytanie ofertowe\nDate: Mon, 4 Mar 2024 09:15:00 +0100\n\nDzień dobry.\n"

    assert submission_of(text, mail_from) == expected


def test_no_user_anywhere_is_no_submission_and_a_rejected_plan() -> None:
    text = f"From: {JAN}\nTo: oferty@example.com\nSubject: Zapytanie\n\nDzień dobry.\n"

    assert submission_of(text, "jan.kowalski@acme-logistics.pl") is None
    plan = plan_message(
        mail(text), envelope=Envelope("jan.kowalski@acme-logistics.pl"), settings=SETTINGS, directory=directory()
    )
    assert (plan.decision, plan.reason) == ("reject", "no registered user sent or received this message")
    assert (plan.submitter, plan.submitter_user_id, plan.new_leads) == (None, None, ())


def test_the_plan_names_the_submitter_and_where_it_was_found() -> None:
    # Given a client's mail that reached the assistant through Anna's alias, by a redirect rule
    message = mail(
        f"From: {JAN}\nTo: Anna Nowak <anna@example.com>\nSubject: Zapytanie\n"
        "Date: Mon, 4 Mar 2024 09:15:00 +0100\n\nDzień dobry.\n"
    )
    # When it is planned with the client as the envelope sender
    plan = plan_message(
        message,
        envelope=Envelope("jan.kowalski@acme-logistics.pl", (ASSISTANT,)),
        settings=SETTINGS,
        directory=directory(),
    )
    # Then the alias names Anna, who is the submitter and the linked user
    assert (plan.decision, plan.reason) == ("accept", "submitted by anna@example.com (via To)")
    assert (plan.submitter, plan.submitter_user_id) == ("anna@example.com", ANNA.id)
    assert [(k.type, k.id, k.reason) for k in plan.links if k.type == "user"] == [("user", ANNA.id, "submitter")]


def test_first_candidate_that_is_a_user_wins_with_its_tag_removed() -> None:
    users = {"anna.nowak@example.com": ANNA, "piotr.zielinski@example.com": ANNA}
    candidates = [
        Candidate("jan.kowalski@acme-logistics.pl", "From"),
        Candidate("anna.nowak+crm@example.com", "To"),
        Candidate("piotr.zielinski@example.com", "Cc"),
    ]

    assert pick_submitter(candidates, users) == Candidate("anna.nowak@example.com", "To")
    assert pick_submitter(candidates[:1], users) is None


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("anna.nowak+caf_=assistant=crm.example.com@example.com", "anna.nowak@example.com"),
        ("anna.nowak@example.com", "anna.nowak@example.com"),
        ("+tag@example.com", "+tag@example.com"),
        ("not-an-address+x", "not-an-address+x"),
    ],
)
def test_without_plus_tag(address: str, expected: str) -> None:
    assert without_plus_tag(address) == expected


def test_lookup_keys_ask_for_each_address_with_and_without_its_tag() -> None:
    candidates = [Candidate("anna.nowak+crm@example.com", "envelope"), Candidate("jan@acme-logistics.pl", "From")]

    assert lookup_keys(candidates) == {"anna.nowak+crm@example.com", "anna.nowak@example.com", "jan@acme-logistics.pl"}


@pytest.mark.parametrize("mail_from", ["Anna.Nowak@Example.com", "<anna+crm@example.com>", " <>", "", "postmaster"])
def test_envelope_candidates_are_the_candidates_of_a_message_without_headers(mail_from: str) -> None:
    assert envelope_candidates(mail_from) == submitter_candidates(mail_from, lambda _name: [])
