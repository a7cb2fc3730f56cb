"""Gathering the trust evidence: what is decided on the event loop, and what must wait for a thread."""

from __future__ import annotations

from typing import Any

from gateway.admission import (
    QUICK_HEADER_BYTES,
    Admission,
    AdmissionSettings,
    Admitted,
    Offer,
    header_block,
    peer_ip,
)
from gateway.mailauth import AuthResults, Check, Settled
from gateway.policy import RecipientPolicy
from gateway.trust import Refuse, TrustSettings
from gateway.users import UserCache

ANNA = "anna.nowak@example.com"
PASS = AuthResults((Check("dkim", "pass", "example.com", "mail"),), "checked")


class FakeAuthenticator:
    """Answers every check with ``results`` and notes how it was asked, and what the caller said decides the
    message without SPF (``settled``, asked with ``results`` less their SPF check)."""

    def __init__(self, results: AuthResults = PASS) -> None:
        self.results = results
        self.calls: list[bool] = []
        self.settled: list[str | None] = []

    def check(
        self,
        raw: bytes,
        *,
        ip: str | None,
        helo: str | None,
        mail_from: str,
        cached_only: bool = False,
        settled: Settled | None = None,
    ) -> Any:
        self.calls.append(cached_only)
        if settled is not None:
            self.settled.append(settled(AuthResults(tuple(c for c in self.results.checks if c.method != "spf"), "x")))
        return self.results


def admission(authenticator: FakeAuthenticator, *, relays: bool = False, users: tuple[str, ...] = (ANNA,)) -> Admission:
    known = UserCache(lambda keys: {k: k.partition("@")[0] for k in keys if k in users}, ttl=600)
    settings = AdmissionSettings(TrustSettings(org_domains=("example.com",)))
    return Admission(
        recipients=RecipientPolicy(["assistant@crm.example.com"]),
        users=known,
        find_token_user=lambda token_hash: None,
        authenticator=authenticator,  # type: ignore[arg-type]
        settings=settings if relays else AdmissionSettings(settings.trust, trusted_relays=()),
    )


def mail(extra: str = "") -> bytes:
    return f"From: {ANNA}\r\nTo: jan@acme.test\r\n{extra}Subject: Offer\r\n\r\nHello\r\n".encode()


KW: dict[str, Any] = {
    "mail_from": ANNA,
    "rcpt_tos": ["assistant@crm.example.com"],
    "peer": "192.0.2.7:40000",
    "helo": "mx.example.com",
    "secret_user": None,
}


def test_a_cached_user_and_cached_dns_are_decided_on_the_loop_without_a_thread() -> None:
    auth = FakeAuthenticator()
    door = admission(auth)
    assert door.quick(Offer(mail(), **KW)) is None  # the user cache is cold: a thread asks the database
    assert isinstance(door.admit(Offer(mail(), **KW)), Admitted)

    quick = door.quick(Offer(mail(), **KW))

    assert isinstance(quick, Admitted) and quick.verdict.proof == "dkim"
    assert auth.calls == [False, True]  # the thread's full check, then the loop's cached-only one


def test_a_cache_miss_or_a_refusal_is_never_decided_on_the_loop() -> None:
    auth = FakeAuthenticator(AuthResults((Check("dkim", "temperror", "example.com"),), "checked"))
    door = admission(auth)
    door.users.find([ANNA])
    assert door.quick(Offer(mail(), **KW)) is None
    auth.results = AuthResults((Check("dkim", "fail", "example.com"),), "checked")
    assert door.quick(Offer(mail(), **KW)) is None
    assert isinstance(door.admit(Offer(mail(), **KW)), Refuse)


def test_a_huge_header_section_is_never_checked_on_the_loop() -> None:
    # dkimpy's header parsing grows faster than linearly with long folded headers: a thread takes those
    auth = FakeAuthenticator()
    door = admission(auth)
    door.users.find([ANNA])
    folded = "X-Padding: " + "\r\n ".join(["x" * 70] * (QUICK_HEADER_BYTES // 70 + 1)) + "\r\n"

    assert door.quick(Offer(mail(folded), **KW)) is None
    assert auth.calls == []


def test_a_trusted_relay_naming_a_cached_user_needs_no_checks_at_all() -> None:
    auth = FakeAuthenticator()
    door = admission(auth, relays=True)
    door.users.find([ANNA])

    quick = door.quick(Offer(mail(), **{**KW, "peer": "127.0.0.1:5555"}))

    assert isinstance(quick, Admitted) and quick.verdict.proof == "trusted-relay"
    assert auth.calls == []


def test_the_header_section_is_cut_and_peers_are_read_as_ip_addresses() -> None:
    assert header_block(b"A: 1\r\nB: 2\r\n\r\nbody") == b"A: 1\r\nB: 2\r\n\r\n"
    assert header_block(b"A: 1\n\nbody") == b"A: 1\n\n"
    assert header_block(b"A: 1\n\nbody\r\n\r\nmore") == b"A: 1\n\n"  # the first blank line ends it
    assert peer_ip("127.0.0.1:2525") == "127.0.0.1"
    assert peer_ip("::ffff:10.0.0.1:25") == "10.0.0.1"
    assert peer_ip("::1:25") == "::1"
    assert peer_ip("not an address") is None
    assert peer_ip(None) is None


def test_an_envelope_sender_proven_by_an_aligned_dkim_pass_settles_it_without_spf() -> None:
    auth = FakeAuthenticator()
    door = admission(auth)
    door.users.find([ANNA])

    quick = door.quick(Offer(mail(), **KW))
    full = door.admit(Offer(mail(), **KW))

    assert isinstance(quick, Admitted) and isinstance(full, Admitted)
    assert quick.verdict == full.verdict
    assert (quick.verdict.submitter, quick.verdict.via, quick.verdict.proof) == (ANNA, "envelope", "dkim")
    assert auth.settled == ["dkim pass d=example.com s=mail"] * 2  # so SPF is not evaluated


PIOTR = "piotr@example.com"


def test_a_later_user_proven_when_the_envelope_sender_is_not_gets_the_same_verdict_on_the_loop() -> None:
    # Given mail from Anna's address, not proven for her (ARC proves a redirect, not a BCC), redirected by the
    # company's forwarder to Piotr, whom the ARC pass proves
    auth = FakeAuthenticator(AuthResults((Check("arc", "pass", "example.com", "fwd"),), "checked"))
    door = admission(auth, users=(ANNA, PIOTR))
    door.users.find([ANNA, PIOTR])
    raw = mail().replace(b"To: jan@acme.test", f"To: {PIOTR}".encode())

    quick = door.quick(Offer(raw, **KW))
    full = door.admit(Offer(raw, **KW))

    # Then the loop reads the headers after the envelope sender alone, and decides what the thread decides
    assert isinstance(quick, Admitted) and isinstance(full, Admitted)
    assert quick.verdict == full.verdict
    assert (quick.verdict.submitter, quick.verdict.via, quick.verdict.proof) == (PIOTR, "To", "arc")
    # and SPF was needed: it might have proven Anna, the first candidate
    assert auth.settled == [None, None]
    assert auth.calls == [True, False]


def test_spf_is_evaluated_when_only_spf_proves_the_sender() -> None:
    auth = FakeAuthenticator(AuthResults((Check("spf", "pass", "example.com"),), "checked"))
    door = admission(auth)
    door.users.find([ANNA])

    quick = door.quick(Offer(mail(), **KW))

    assert isinstance(quick, Admitted) and quick.verdict.proof == "spf"
    assert auth.settled == [None]
