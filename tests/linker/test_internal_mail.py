"""Internal-only mail ends ``ignored`` by default (``[linker] internal``); the config keys reach the pipeline,
and ``explain`` says why each participant made no lead."""

from __future__ import annotations

from dataclasses import replace

import pytest

from linker.explain import explain_message
from linker.pipeline import MAX_NEW_LEADS
from linker.settings import IgnoreRule
from mailassist.build import linker_settings
from mailassist.config import ConfigError, parse_config
from tests.linker.automated_support import AUTOMATED, REDIRECTED, plan
from tests.linker.support import ASSISTANT, SETTINGS, directory, mail

FILE_ALL = replace(SETTINGS, automated="file", internal="file")


INTERNAL = f"""\
From: Anna Nowak <anna.nowak@example.com>
To: Piotr Zieliński <piotr.zielinski@example.com>
Cc: {{cc}}{ASSISTANT}
Subject: Grafik dyżurów na grudzień
Date: Mon, 23 Nov 2026 12:00:00 +0100

Piotr, zerknij proszę na grafik.
"""


def test_internal_only_mail_is_ignored_by_default() -> None:
    result = plan(mail(INTERNAL.format(cc="Zespół <team@sales.example.com>, ")))

    assert result.decision == "ignore"
    assert result.reason == "internal only: no participant outside the organisation"


def test_internal_file_files_it() -> None:
    result = plan(mail(INTERNAL.format(cc="")), replace(SETTINGS, internal="file"))

    assert result.decision == "accept"


def test_one_outside_participant_makes_it_external() -> None:
    result = plan(mail(INTERNAL.format(cc="jan.kowalski@acme-logistics.pl, ")))

    assert result.decision == "accept"


def test_a_forward_of_a_colleagues_mail_is_internal() -> None:
    # Given Anna forwarding Piotr's internal note, where no outside sender is found deeper in
    text = f"""\
From: Anna Nowak <anna.nowak@example.com>
To: {ASSISTANT}
Subject: Fwd: Grafik
Date: Mon, 23 Nov 2026 12:00:00 +0100

---------- Forwarded message ---------
From: Piotr Zieliński <piotr.zielinski@example.com>
Date: Mon, Nov 23, 2026 at 9:15 AM
Subject: Grafik
To: Anna Nowak <anna.nowak@example.com>


Grafik w załączniku.
"""
    assert plan(mail(text)).decision == "ignore"


def test_config_keys_reach_the_pipeline() -> None:
    assert (linker_settings(parse_config({})).automated, linker_settings(parse_config({})).internal) == (
        "ignore",
        "ignore",
    )
    settings = linker_settings(parse_config({"linker": {"automated": "file", "internal": "file"}}))
    assert (settings.automated, settings.internal) == ("file", "file")
    with pytest.raises(ConfigError, match=r"linker\.automated"):
        parse_config({"linker": {"automated": "drop"}})


def _no_lead(raw: bytes, settings: object = FILE_ALL) -> dict[str, str | None]:
    assert isinstance(settings, type(SETTINGS))
    out = explain_message(raw, settings, directory=directory(), envelope=REDIRECTED)
    return {p["address"]: p["no_lead"] for p in out["participants"]}


def test_explain_says_why_no_lead_was_made() -> None:
    settings = replace(FILE_ALL, ignore_rules=(IgnoreRule("vendor", "*@billing.vendor.test"),))
    raw = (
        "From: Anna Nowak <anna.nowak@example.com>\r\n"
        "To: Jan Kowalski <jan.kowalski@acme-logistics.pl>, Ola Nowicka <ola@nowa-firma.test>\r\n"
        "Cc: noreply@shop.test, invoices@billing.vendor.test\r\n"
        "Subject: Oferta\r\n\r\nDzień dobry.\r\n"
    ).encode()

    assert _no_lead(raw, settings) == {
        "anna.nowak@example.com": "internal",
        "jan.kowalski@acme-logistics.pl": "already known (contact)",
        "ola@nowa-firma.test": None,  # a new lead
        "noreply@shop.test": "automated sender",
        "invoices@billing.vendor.test": "ignore rule 'vendor'",
    }


def test_explain_names_the_automated_message_and_the_cap() -> None:
    newsletter = (AUTOMATED / "mailchimp_newsletter_pl.eml").read_bytes()
    assert _no_lead(newsletter)["newsletter@transline.test"] == "automated message: List-Id header"
    assert _no_lead(newsletter, SETTINGS)["newsletter@transline.test"] == "message not filed (ignore)"

    many = ", ".join(f"k{i}@firma{i}.test" for i in range(MAX_NEW_LEADS + 2))
    raw = f"From: anna.nowak@example.com\r\nTo: {many}\r\nSubject: Oferta\r\n\r\nx\r\n".encode()
    reasons = _no_lead(raw)
    assert reasons[f"k{MAX_NEW_LEADS - 1}@firma{MAX_NEW_LEADS - 1}.test"] is None
    assert (
        reasons[f"k{MAX_NEW_LEADS}@firma{MAX_NEW_LEADS}.test"] == f"cap: at most {MAX_NEW_LEADS} new leads per message"
    )
