"""The pure trust decision: every route, every proof, and every forged form refused with its own reason."""

from __future__ import annotations

import pytest

from gateway.mailauth import AuthResults, Check
from gateway.trust import Accept, Evidence, Refuse, TrustSettings, decide, settled_without_spf
from linker.submitter import Candidate, submitter_candidates

SETTINGS = TrustSettings(org_domains=("example.com",), provider_domains=("google.com", "microsoft.com"))
ANNA = "anna.nowak@example.com"
PIOTR = "piotr.zielinski@example.com"
USERS: dict[str, object] = {ANNA: "anna", PIOTR: "piotr", "jan.free@gmail.com": "jan"}


def candidates(mail_from: str, **headers: str) -> list[Candidate]:
    named = {name.replace("_", "-").lower(): value for name, value in headers.items()}
    return submitter_candidates(mail_from, lambda name: [named[name.lower()]] if name.lower() in named else [])


def results(*checks: tuple[str, str, str], signed: tuple[str, ...] = (), **trace: list[str]) -> Evidence:
    """Evidence of these checks (each pass signing the ``signed`` headers) and trace headers (``Delivered_To=[…]``,
    top to bottom)."""
    made = tuple(Check(m, r, d, signed=signed if r == "pass" else ()) for m, r, d in checks)
    traced = {name.replace("_", "-").lower(): values for name, values in trace.items()}
    return Evidence(results=AuthResults(made, "checked"), trace=traced)


def test_a_secret_address_proves_its_user_whatever_the_headers_say() -> None:
    forged = candidates("bounce@attacker.test", From="ceo@acme.test")

    verdict = decide(forged, {}, Evidence(secret_user=ANNA), SETTINGS)

    assert verdict == Accept(ANNA, "secret-address", "secret-address", "secret-address", "personal address")


def test_mail_naming_no_user_is_refused_as_before() -> None:
    verdict = decide(candidates("x@spam.test", From="x@spam.test", To="y@spam.test"), USERS, Evidence(), SETTINGS)

    assert isinstance(verdict, Refuse)
    assert verdict.reply.startswith("550 5.7.1 Sender x@spam.test is not a registered user")
    assert verdict.reason == "unknown_submitter"


def test_a_trusted_relay_vouches_for_the_first_user_named() -> None:
    verdict = decide(
        candidates("jan@acme.test", From="jan@acme.test", To=ANNA),
        USERS,
        Evidence(relay=True, peer_ip="10.0.0.5"),
        SETTINGS,
    )

    assert isinstance(verdict, Accept)
    assert (verdict.submitter, verdict.via, verdict.route, verdict.proof) == (ANNA, "To", "mailbox", "trusted-relay")
    assert verdict.detail == "peer 10.0.0.5 is a trusted relay"


@pytest.mark.parametrize(
    ("check", "proof"),
    [
        (("dkim", "pass", "example.com"), "dkim"),
        (("dkim", "pass", "mail.example.com"), "dkim"),  # relaxed alignment: a subdomain of the org domain
        (("spf", "pass", "example.com"), "spf"),
        (("spf", "pass", "bounces.example.com"), "spf"),
    ],
)
def test_a_bcc_is_proven_by_dkim_or_spf_aligned_with_the_organisation(check: tuple[str, str, str], proof: str) -> None:
    verdict = decide(candidates(ANNA, From=f"Anna Nowak <{ANNA}>", To="jan@acme.test"), USERS, results(check), SETTINGS)

    assert isinstance(verdict, Accept)
    assert (verdict.submitter, verdict.route, verdict.proof) == (ANNA, "sender", proof)


@pytest.mark.parametrize(
    "checks",
    [
        (),
        (("dkim", "pass", "attacker.test"), ("spf", "pass", "attacker.test")),
        (("dkim", "fail", "example.com"), ("spf", "softfail", "example.com")),
        (("dkim", "pass", "example.com.attacker.test"),),  # looks like ours, is not under it
        (("arc", "pass", "example.com"),),  # ARC proves a redirect, not who wrote a BCC
    ],
)
def test_a_forged_bcc_from_a_user_is_refused_with_what_to_do(checks: tuple[tuple[str, str, str], ...]) -> None:
    verdict = decide(
        candidates("bounce@attacker.test", From=ANNA, To="jan@acme.test"), USERS, results(*checks), SETTINGS
    )

    assert isinstance(verdict, Refuse)
    assert verdict.reply == (
        f"550 5.7.1 Mail from {ANNA} is not DKIM-signed by example.com (nor sent from its SPF-listed servers): "
        "send it from your company mailbox or to your personal assistant address"
    )
    assert verdict.reason == "not_aligned"


def test_a_dmarc_failure_of_the_organisation_domain_says_so_with_5_7_26() -> None:
    verdict = decide(
        candidates("bounce@attacker.test", From=ANNA),
        USERS,
        results(("dkim", "fail", "example.com"), ("dmarc", "fail", "example.com")),
        SETTINGS,
    )

    assert isinstance(verdict, Refuse)
    assert verdict.reply.startswith(f"550 5.7.26 Mail from {ANNA} fails DMARC for example.com")
    assert verdict.reason == "dmarc_fail"


def test_a_user_at_a_free_mail_domain_can_only_use_a_secret_address() -> None:
    verdict = decide(
        candidates("jan.free@gmail.com", From="jan.free@gmail.com"),
        USERS,
        results(("dkim", "pass", "gmail.com")),
        SETTINGS,
    )

    assert isinstance(verdict, Refuse)
    assert "gmail.com is not one of the organisation's domains" in verdict.reply
    assert verdict.reason == "sender_not_org_domain"


def test_the_issue_s_forged_contact_mail_to_a_salesperson_is_refused() -> None:
    # MAIL FROM:<bounce@attacker>, From: a client contact, To: a salesperson, Subject: Re: OP-123 new bank account
    forged = candidates("bounce@attacker.test", From="Tomasz <t.wisniewski@acme-logistics.pl>", To=ANNA)

    verdict = decide(
        forged, USERS, results(("dkim", "pass", "attacker.test"), ("spf", "pass", "attacker.test")), SETTINGS
    )

    assert isinstance(verdict, Refuse)
    assert verdict.reply.startswith(f"550 5.7.1 Mail redirected from {ANNA}'s mailbox has no ARC or DKIM pass by")
    assert verdict.reason == "redirect_unproven"


@pytest.mark.parametrize(
    ("headers", "check", "proof"),
    [
        ({"To": ANNA}, ("arc", "pass", "example.com"), "arc"),
        ({"To": ANNA}, ("dkim", "pass", "example.com"), "dkim"),
        ({"X_MS_Exchange_Inbox_Rules_Loop": ANNA}, ("dkim", "pass", "example.com"), "dkim"),
    ],
)
def test_a_redirect_is_proven_by_arc_or_dkim_of_the_organisation(
    headers: dict[str, str], check: tuple[str, str, str], proof: str
) -> None:
    redirect = candidates("SRS0=ab=KC=acme-logistics.pl=jan@example.com", From="jan@acme-logistics.pl", **headers)

    verdict = decide(redirect, USERS, results(check), SETTINGS)

    assert isinstance(verdict, Accept)
    assert (verdict.submitter, verdict.route, verdict.proof) == (ANNA, "mailbox", proof)


@pytest.mark.parametrize(
    ("header", "provider"),
    [("Delivered_To", "google.com"), ("X_MS_Exchange_Inbox_Rules_Loop", "microsoft.com")],
)
def test_a_provider_s_pass_proves_a_redirect_named_in_a_trace_header_it_signed(header: str, provider: str) -> None:
    redirect = candidates("bounces@example.com", From="jan@acme-logistics.pl", **{header: ANNA})
    signed = ("from", "to", "subject", header.replace("_", "-").lower())

    verdict = decide(redirect, USERS, results(("arc", "pass", provider), signed=signed, **{header: [ANNA]}), SETTINGS)

    assert isinstance(verdict, Accept)
    assert (verdict.submitter, verdict.via, verdict.proof) == (ANNA, header.replace("_", "-"), "arc")


def test_a_provider_s_pass_does_not_vouch_for_a_trace_header_it_did_not_sign() -> None:
    redirect = candidates("bounces@example.com", From="jan@acme-logistics.pl", Delivered_To=ANNA)

    verdict = decide(
        redirect, USERS, results(("arc", "pass", "google.com"), signed=("from", "to"), Delivered_To=[ANNA]), SETTINGS
    )

    assert isinstance(verdict, Refuse)
    assert verdict.reason == "redirect_unproven"


def test_a_trace_header_added_above_a_provider_s_signature_is_not_what_it_signed() -> None:
    # Given a message Gmail really delivered to the attacker's mailbox and sealed, then sent on to us with a
    # Delivered-To naming Anna added on top: the seal signs one Delivered-To, the bottom-most (the attacker's)
    evidence = results(
        ("arc", "pass", "google.com"),
        signed=("from", "delivered-to"),
        Delivered_To=[ANNA, "attacker@gmail.com"],
    )
    forged = [Candidate(ANNA, "Delivered-To"), Candidate("attacker@gmail.com", "Delivered-To")]

    verdict = decide(forged, USERS, evidence, SETTINGS)

    assert isinstance(verdict, Refuse)
    # And signed twice (over-signing), both instances are vouched for
    twice = results(
        ("arc", "pass", "google.com"), signed=("delivered-to", "delivered-to"), Delivered_To=[ANNA, "x@gmail.com"]
    )
    assert isinstance(decide(forged, USERS, twice, SETTINGS), Accept)


def test_a_provider_pass_never_vouches_for_to_or_cc_which_anyone_writes() -> None:
    # Anyone with a Gmail account can forward their own mail to us, ARC-sealed by google.com, To: a salesperson
    forwarded = candidates("attacker+caf_=assistant@gmail.com", From="attacker@gmail.com", To=ANNA, Cc=PIOTR)

    verdict = decide(forwarded, USERS, results(("arc", "pass", "google.com"), ("dkim", "pass", "gmail.com")), SETTINGS)

    assert isinstance(verdict, Refuse)
    assert verdict.reason == "redirect_unproven"


def test_a_failed_arc_chain_proves_nothing() -> None:
    verdict = decide(
        candidates("x@acme.test", Delivered_To=ANNA), USERS, results(("arc", "fail", "example.com")), SETTINGS
    )

    assert isinstance(verdict, Refuse)


def test_dns_trouble_is_451_when_nothing_else_proves_the_message() -> None:
    verdict = decide(candidates(ANNA, From=ANNA), USERS, results(("dkim", "temperror", "example.com")), SETTINGS)

    assert isinstance(verdict, Refuse)
    assert verdict.reply.startswith("451 4.7.0 ")
    assert verdict.reason == "dns_temporary"


def test_dns_trouble_does_not_matter_once_another_check_proves_it() -> None:
    checks = results(("spf", "temperror", "example.com"), ("dkim", "pass", "example.com"))

    assert isinstance(decide(candidates(ANNA, From=ANNA), USERS, checks, SETTINGS), Accept)


def test_a_forged_user_in_from_does_not_hide_a_proven_redirect_to_another() -> None:
    mail = candidates("x@acme.test", From=PIOTR, Delivered_To=ANNA)

    verdict = decide(mail, USERS, results(("arc", "pass", "example.com")), SETTINGS)

    assert isinstance(verdict, Accept)
    assert (verdict.submitter, verdict.via) == (ANNA, "Delivered-To")


def test_organisation_domains_match_on_label_boundaries_only() -> None:
    settings = TrustSettings(org_domains=("example.com", "sales.example.com"))

    assert settings.org_domain_of("mail.sales.example.com") == "sales.example.com"
    assert settings.org_domain_of("EXAMPLE.COM.") == "example.com"
    assert settings.org_domain_of("badexample.com") is None


_SPF_RESULTS = [
    (),
    (("spf", "pass", "example.com"),),
    (("spf", "pass", "attacker.test"),),
    (("spf", "fail", "example.com"),),
    (("spf", "temperror", "example.com"),),
]


@pytest.mark.parametrize(
    "named",
    [
        candidates(ANNA, From=ANNA, To="jan@acme.test"),
        candidates("bounce@attacker.test", From=ANNA),
        candidates("bounce@attacker.test", From="jan@acme.test", To=PIOTR, Delivered_To=ANNA),
        candidates(PIOTR, From=ANNA, To=ANNA),
        candidates("jan.free@gmail.com", From=ANNA),
    ],
)
@pytest.mark.parametrize(
    "checks",
    [
        (),
        (("dkim", "pass", "example.com"),),
        (("dkim", "pass", "mail.example.com"),),
        (("dkim", "pass", "attacker.test"),),
        (("dkim", "fail", "example.com"),),
        (("arc", "pass", "example.com"),),
        (("arc", "pass", "google.com"), ("dkim", "pass", "example.com")),
        (("dkim", "temperror", "example.com"),),
    ],
)
def test_a_verdict_settled_without_spf_is_the_verdict_whatever_spf_says(
    named: list[Candidate], checks: tuple[tuple[str, str, str], ...]
) -> None:
    settled = settled_without_spf(named, USERS, results(*checks, signed=("delivered-to",)), SETTINGS)

    with_spf = [
        decide(named, USERS, results(*checks, *spf, signed=("delivered-to",)), SETTINGS) for spf in _SPF_RESULTS
    ]

    # Settled means: the same verdict for every SPF result (never a refusal, never another user)
    if settled is not None:
        assert with_spf == [settled] * len(_SPF_RESULTS)
        assert settled.proof in ("dkim", "arc")


def test_settled_without_spf_needs_the_first_user_proven_by_dkim_or_arc() -> None:
    bcc = candidates(ANNA, From=ANNA)
    assert settled_without_spf(bcc, USERS, results(("dkim", "pass", "example.com")), SETTINGS) == Accept(
        ANNA, "envelope", "sender", "dkim", "dkim pass d=example.com"
    )
    # Nothing proves Anna without SPF: not settled
    assert settled_without_spf(bcc, USERS, results(("dkim", "pass", "attacker.test")), SETTINGS) is None
    # Piotr is proven, but SPF might prove Anna, who comes first
    redirect = candidates(ANNA, From=ANNA, To=PIOTR)
    assert settled_without_spf(redirect, USERS, results(("arc", "pass", "example.com")), SETTINGS) is None
    assert isinstance(decide(redirect, USERS, results(("arc", "pass", "example.com")), SETTINGS), Accept)
    # Results that already hold SPF, a secret address or a relay are not its to settle
    assert (
        settled_without_spf(bcc, USERS, results(("dkim", "pass", "example.com"), ("spf", "fail", "x")), SETTINGS)
        is None
    )
    assert settled_without_spf(bcc, USERS, Evidence(secret_user=ANNA), SETTINGS) is None
    assert settled_without_spf(bcc, USERS, Evidence(relay=True), SETTINGS) is None
