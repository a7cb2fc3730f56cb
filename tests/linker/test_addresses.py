"""Address normalisation, automated senders, company guesses, ignore rules."""

from __future__ import annotations

import re

import pytest

from linker.addresses import guess_company, is_automated_address, is_automated_message, normalize_address, untagged
from linker.freemail import FREE_MAIL_DOMAINS
from linker.settings import IgnoreRule, LinkerSettings


@pytest.mark.parametrize(
    ("raw", "strip", "expected"),
    [
        ("Jan.Kowalski@Acme-Logistics.PL", False, "jan.kowalski@acme-logistics.pl"),
        ("<anna@example.com>", False, "anna@example.com"),
        ("anna+crm@example.com", False, "anna+crm@example.com"),
        ("anna+crm@example.com", True, "anna@example.com"),
        ("+tag@example.com", True, "+tag@example.com"),
        ("józef@przykład.pl", False, "józef@xn--przykad-rjb.pl"),
    ],
)
def test_normalize_address(raw: str, strip: bool, expected: str) -> None:
    assert normalize_address(raw, strip_plus=strip) == expected


@pytest.mark.parametrize(
    "address",
    ["noreply@x.com", "no-reply@x.com", "do-not-reply@x.com", "MAILER-DAEMON@x.com", "postmaster@x.com",
     "bounce+abc@x.com", "notifications@x.com", "newsletter-noreply@x.com"],
)  # fmt: skip
def test_automated_addresses(address: str) -> None:
    assert is_automated_address(address)


@pytest.mark.parametrize("address", ["jan@x.com", "info@x.com", "sales@x.com", "noreen@x.com", "returns.dept@x.com"])
def test_people_are_not_automated(address: str) -> None:
    assert not is_automated_address(address)


@pytest.mark.parametrize(
    ("headers", "automated"),
    [
        ([("List-Id", "<news.acme.com>")], True),
        ([("Auto-Submitted", "auto-replied")], True),
        ([("Auto-Submitted", "no")], False),
        ([("Precedence", "bulk")], True),
        ([("Precedence", "first-class")], False),
        ([("Subject", "hi")], False),
    ],
)
def test_automated_messages(headers: list[tuple[str, str]], automated: bool) -> None:
    assert (is_automated_message(headers) is not None) is automated


@pytest.mark.parametrize(
    ("domain", "company"),
    [
        ("acme-logistics.pl", "Acme Logistics"),
        ("mail.globex.co.uk", "Globex"),
        ("www.initech.com.pl", "Initech"),
        ("gmail.com", None),
        ("seznam.cz", None),
        ("localhost", None),
    ],
)
def test_guess_company(domain: str, company: str | None) -> None:
    assert guess_company(domain, FREE_MAIL_DOMAINS) == company


def test_ignore_rules_glob_address_or_domain_and_subject() -> None:
    rule = IgnoreRule("newsletters", "*.news.example.org", re.compile("(?i)newsletter"))
    assert rule.matches("hello@mail.news.example.org", "Our November Newsletter")
    assert not rule.matches("hello@mail.news.example.org", "Invoice 12")
    assert not rule.matches("jan@acme.pl", "Newsletter")
    by_domain = IgnoreRule("vendor", "vendor.example")
    assert by_domain.matches("billing@vendor.example", None)
    assert IgnoreRule("one", "ceo@bigcorp.example").matches_address("ceo@bigcorp.example")


def test_settings_normalise_and_know_our_addresses() -> None:
    s = LinkerSettings.build(
        assistant_addresses=["Assistant@CRM.example.com"], organization_domains=["Example.com"], codes={"op": "deal"}
    )
    assert s.is_assistant("assistant@crm.example.com")
    assert s.is_assistant("assistant+anna@crm.example.com")
    assert not s.is_assistant("other@crm.example.com")
    assert s.is_org_domain("anna@example.com") and s.is_org_domain("anna@sales.example.com")
    assert not s.is_org_domain("anna@notexample.com")
    assert s.codes == {"OP": "deal"}
    assert "gmail.com" in s.free_mail_domains


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("john+crm@acme.test", "john@acme.test"),
        ("john+crm+x@acme.test", "john@acme.test"),
        ("+crm@acme.test", None),
        ("john@acme.test", None),
        ("john+@acme.test", "john@acme.test"),
        ("no-at-sign", None),
    ],
)
def test_untagged(address: str, expected: str | None) -> None:
    assert untagged(address) == expected
