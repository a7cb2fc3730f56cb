"""Automated mail (auto-replies, bounces, read receipts, newsletters) ends ``ignored`` by default (``[linker]
automated``), judged on the message that reached us: a user's own forward of such mail is filed."""

from __future__ import annotations

from dataclasses import replace
from email.header import Header

import pytest

from linker.classify import auto_reply_subject
from linker.model import ParsedMessage
from linker.parse import parse_message
from tests.linker.automated_support import AUTOMATED, plan
from tests.linker.support import ASSISTANT, SETTINGS, mail


def load(name: str) -> ParsedMessage:
    return parse_message((AUTOMATED / name).read_bytes())


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("exchange_automatic_reply_pl.eml", "auto-reply subject 'Automatyczna odpowiedź: Oferta"),
        ("gmail_vacation_responder_en.eml", "Auto-Submitted: auto-replied"),
        ("subject_only_auto_reply_cs.eml", "auto-reply subject 'Automatická odpověď: Nabídka dopravy OP-124'"),
        ("postfix_dsn_en.eml", "delivery status notification"),
        ("thunderbird_read_receipt_ro.eml", "read receipt"),
        ("mailchimp_newsletter_pl.eml", "List-Id header"),
        ("exchange_rule_forward_of_newsletter_pl.eml", "auto-forwarded by a mailbox rule: List-Id header"),
        ("../bounce_exchange_ndr_en.eml", "delivery status notification"),
    ],
)
def test_automated_mail_ends_ignored_with_the_reason(name: str, why: str) -> None:
    # Given machine-sent mail that reached Anna's mailbox and came on to us
    message = load(name)
    # When it is planned under the default policy
    result = plan(message)
    # Then it ends ignored, the ingest log saying why, and nothing is filed on its correspondents
    assert result.submitter == "anna.nowak@example.com"
    assert result.decision == "ignore"
    assert result.reason.startswith("automated: ") and why in result.reason, result.reason
    assert result.new_leads == ()


@pytest.mark.parametrize(
    "name",
    [
        "exchange_automatic_reply_pl.eml",
        "gmail_vacation_responder_en.eml",
        "thunderbird_read_receipt_ro.eml",
        "mailchimp_newsletter_pl.eml",
        "exchange_rule_forward_of_newsletter_pl.eml",
    ],
)
def test_automated_file_files_it_as_before_without_leads(name: str) -> None:
    result = plan(load(name), replace(SETTINGS, automated="file"))

    assert result.decision == "accept"
    assert result.new_leads == ()


@pytest.mark.parametrize(
    ("name", "original_from", "note"),
    [
        # Outlook, attached, with a note: the newsletter's List-Id and Precedence are the attachment's, not Anna's
        (
            "outlook_forward_of_newsletter_with_note_pl.eml",
            "newsletter@transline.test",
            "TransLine wchodzi na naszą trasę Poznań – Praga, do obserwacji.",
        ),
        # Gmail, inline, no note: a client's auto-reply, forwarded by hand ("Fwd: Automatická odpověď: …")
        ("gmail_forward_of_auto_reply_cs.eml", "petra.svobodova@novyklient.cz", None),
    ],
)
def test_a_users_own_forward_of_automated_mail_is_filed(name: str, original_from: str, note: str | None) -> None:
    # Given Anna's manual forward of a newsletter or an auto-reply
    message = load(name)
    # When it is planned
    result = plan(message)
    # Then it is her forward, filed, with the forwarded mail as the original
    assert (result.kind, result.decision) == ("forward", "accept"), result.reason
    assert result.original is not None and result.original.from_ is not None
    assert result.original.from_.address == original_from
    assert result.original.note == note
    # And the automated sender inside makes no lead
    assert result.new_leads == ()


def test_a_mailbox_rule_forward_of_a_clients_mail_is_filed() -> None:
    # Given Exchange's inbox rule forwarding (as an attachment) Jan's answer: the rule made the forward
    message = load("exchange_rule_forward_of_client_mail_pl.eml")
    assert message.header("X-MS-Exchange-Generated-Message-Source") == "Mailbox Rules Agent"
    # Then the mail it carries decides, and a person wrote that one
    result = plan(message)
    assert (result.kind, result.decision) == ("forward", "accept"), result.reason
    assert result.original is not None and result.original.message_id == "b3c4d5e6-odp-op123@acme-logistics.pl"


BCC = """\
From: Anna Nowak <anna.nowak@example.com>
To: Jan Kowalski <jan.kowalski@acme-logistics.pl>
Subject: {subject}
Date: Mon, 23 Nov 2026 10:00:00 +0100
Message-ID: <bcc-{n}@example.com>
{headers}
Dzień dobry, w załączeniu oferta.
"""

REDIRECT = """\
From: Jan Kowalski <jan.kowalski@acme-logistics.pl>
To: Anna Nowak <anna.nowak@example.com>
Subject: {subject}
Date: Mon, 23 Nov 2026 10:00:00 +0100
{headers}
Dzień dobry.
"""


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ("Auto-Submitted: auto-generated\n", "Auto-Submitted: auto-generated"),
        ("X-Auto-Response-Suppress: All\n", "X-Auto-Response-Suppress: all"),
        ("X-Auto-Response-Suppress: DR, OOF, AutoReply\n", "X-Auto-Response-Suppress"),
        ("X-MS-Exchange-Message-Is-Ndr:\n", "Exchange non-delivery report"),
        ("Return-Path: <>\n", "null sender"),
        ("Precedence: bulk\n", "Precedence: bulk"),
        ("Precedence: auto_reply\n", "Precedence: auto_reply"),
        ("X-Autoreply: yes\n", "X-Autoreply header"),
        ("List-Unsubscribe: <mailto:leave@acme-logistics.pl>\n", "List-Unsubscribe header"),
    ],
)
def test_markers_of_the_message_that_reached_us(headers: str, why: str) -> None:
    result = plan(mail(REDIRECT.format(subject="Dostawa", headers=headers)))

    assert result.decision == "ignore"
    assert why in result.reason


@pytest.mark.parametrize(
    "headers",
    [
        "",
        "Auto-Submitted: no\n",
        # A receipt request, not an auto-reply: Outlook asks for no delivery and read reports
        "X-Auto-Response-Suppress: DR, RN, NRN\n",
        "Return-Path: <jan.kowalski@acme-logistics.pl>\n",
        # The channel, not the content: a rule forwarded a person's mail
        "Auto-Submitted: auto-forwarded\n",
        "X-MS-Exchange-Inbox-Rules-Loop: anna.nowak@example.com\n",
    ],
)
def test_mail_a_person_wrote_is_filed(headers: str) -> None:
    result = plan(mail(REDIRECT.format(subject="Dostawa", headers=headers)))

    assert result.decision == "accept", result.reason


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx.acme-logistics.pl", "postmaster@acme-logistics.pl", "no-reply@acme-logistics.pl"]
)
def test_automated_senders(sender: str) -> None:
    text = REDIRECT.format(subject="Delivery Status Notification", headers="").replace(
        "Jan Kowalski <jan.kowalski@acme-logistics.pl>", sender
    )

    result = plan(mail(text))

    assert result.decision == "ignore"
    assert f"automated sender {sender.lower()}" in result.reason


def test_the_users_own_auto_reply_is_automated_too() -> None:
    # Given Anna's own out-of-office reply, copied to the assistant (an auto-BCC rule)
    text = BCC.format(subject="Automatic reply: Zapytanie", n=1, headers="Auto-Submitted: auto-replied\n")

    assert plan(mail(text)).decision == "ignore"


def test_a_forward_the_user_wrote_is_judged_by_its_own_headers_only() -> None:
    # Given a forward whose inline block is a newsletter sender's, and whose outer headers are Anna's mail client's
    forward = f"""\
From: Anna Nowak <anna.nowak@example.com>
To: {ASSISTANT}
Subject: Fwd: Out of Office: Zapytanie
Date: Mon, 23 Nov 2026 10:00:00 +0100
{{headers}}
---------- Forwarded message ---------
From: Jan Kowalski <jan.kowalski@acme-logistics.pl>
Date: Mon, Nov 23, 2026 at 9:15 AM
Subject: Out of Office: Zapytanie
To: Anna Nowak <anna.nowak@example.com>


Jestem na urlopie.
"""
    # Then it is filed, for the automated mail is inside it
    by_hand = plan(mail(forward.format(headers="")))
    assert (by_hand.kind, by_hand.decision) == ("forward", "accept")
    # But a mailbox rule's forward (Auto-Submitted on the forward itself) of the same auto-reply is not
    by_rule = plan(mail(forward.format(headers="Auto-Submitted: auto-forwarded\n")))
    assert (by_rule.kind, by_rule.decision) == ("forward", "ignore")
    assert "auto-forwarded by a mailbox rule: auto-reply subject 'Out of Office: Zapytanie'" in by_rule.reason
    # And list headers on Anna's own outer message make it automated whatever it carries
    listed = plan(mail(forward.format(headers="List-Id: <sales.example.com>\n")))
    assert (listed.kind, listed.decision) == ("forward", "ignore")


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Oferta OP-123",
        "AUTOMATIC REPLY: oferta",
        "Auto-Reply: Oferta",
        "Autoreply",
        "Auto Response: Oferta",
        "Out of Office: Oferta",
        "Out of Office AutoReply: Oferta",
        "out of the office",
        "Automatyczna odpowiedź: Oferta",
        "Odpowiedź automatyczna: Oferta",
        "Automatická odpověď: Nabídka",
        "Automatická odpoveď: Ponuka",
        "Răspuns automat: Comanda",
        "Abwesenheitsnotiz: Angebot",
        "Automatische Antwort: Angebot",
        "Réponse automatique : Offre",
        "Respuesta automática: Oferta",
        "Risposta automatica: Offerta",
        "Resposta automática: Proposta",
        "Automatisch antwoord: Offerte",
        "Autosvar: Offert",
        "Automatiskt svar: Offert",
        "Automatisk svar: Tilbud",
        "Automaattinen vastaus: Tarjous",
        "Automatikus válasz: Ajánlat",
        "Automatski odgovor: Ponuda",
        "Samodejni odgovor: Ponudba",
        "Автоматический ответ: Предложение",
        "Автоматичен отговор: Оферта",
        "Αυτόματη απάντηση: Προσφορά",
        "Otomatik yanıt: Teklif",
        "自动回复: 报价",
        "自動応答: 見積もり",
        "Mimo kancelář",
        "Poza biurem do 30.11",
        "[EXTERNAL] Automatic reply: Oferta",
        "  automatyczna ODPOWIEDŹ:Oferta",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    assert auto_reply_subject(subject)


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Automatic reply: Oferta",
        "Fwd: Automatyczna odpowiedź: Oferta",
        "AW: Abwesenheitsnotiz: Angebot",
        "Oferta OP-123 (automatic reply expected)",
        "Autodesk response to your RFQ",
        "Automotive replacement parts",
        "Automation reporting",
        "Outbound office move",
        "",
        None,
    ],
)
def test_subjects_a_person_writes(subject: str | None) -> None:
    assert not auto_reply_subject(subject)


@pytest.mark.parametrize("charset", ["utf-8", "iso-8859-2", "windows-1250"])
def test_encoded_subjects_are_read_as_decoded(charset: str) -> None:
    # Given an RFC 2047 subject, as Polish mail clients write it
    subject = Header("Automatyczna odpowiedź: Oferta OP-123", charset).encode()
    assert subject.startswith(f"=?{charset}?")
    # Then the parser decodes it and the auto-reply is seen
    result = plan(mail(REDIRECT.format(subject=subject, headers="")))
    assert result.decision == "ignore"
    assert "Automatyczna odpowiedź" in result.reason
