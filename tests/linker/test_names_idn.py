"""Encoded names (RFC 2047) and internationalized domains, read from real clients' mail and matched in one form.

The fixtures under ``names_idn/`` are what Python's ``EmailMessage`` (and so ``make demo-mail`` and smtplib
examples), Thunderbird, Outlook, Gmail and Apple Mail write: names mixing plain text and encoded words, words in
quotes, folded subjects, IDN domains as A-labels and, over SMTPUTF8, as raw UTF-8.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linker import parse
from linker.addresses import MAX_DOMAIN, normalize_address, normalize_domain, unicode_address, unicode_domain
from linker.directory import Contact, Entity, MemoryDirectory
from linker.encoded_words import decode_encoded_words, has_undecodable_words
from linker.model import Mailbox
from linker.parse import parse_addresses
from linker.pipeline import Envelope, run_pipeline
from linker.submitter import normalize_address as submitter_address
from linker.tasks import outcome_of
from mailassist.import_cells import normalize_address as imported_address
from mailassist.import_cells import normalize_domain as imported_domain
from store import InboundView
from tests.linker.support import ANNA, FIXTURES, SETTINGS, directory, load

NAMES_IDN = FIXTURES / "names_idn"
ZABKA = "xn--abka-99a.test"
MUELLER = "xn--mller-kva.example"


# ---- RFC 2047 ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Plain text, then a word: Python's EmailMessage, smtplib examples, make demo-mail.
        ("Jan =?utf-8?q?Nov=C3=A1k?=", "Jan Novák"),
        # RFC 2047 §6.2: space between two words goes, between a word and text stays.
        ("=?utf-8?q?Jan?= =?utf-8?q?_Nov=C3=A1k?=", "Jan Novák"),
        ("=?utf-8?q?Jan?=\r\n =?utf-8?q?Nov=C3=A1k?=", "JanNovák"),
        ("=?utf-8?q?Ji=C5=99=C3=AD?= a =?utf-8?q?Pavla?=", "Jiří a Pavla"),
        ("Stefan =?iso-8859-1?Q?Sch=E4fer?= (Vertrieb)", "Stefan Schäfer (Vertrieb)"),
        # Inside quotes, as Outlook and others write them; lower-case hex, as Thunderbird does.
        ('"=?UTF-8?Q?Ma=c5=82gorzata_Kowalczyk?="', '"Małgorzata Kowalczyk"'),
        # A character split across two base64 words.
        ("=?utf-8?b?xZ8=?= =?utf-8?b?yJs=?=", "şț"),
        ("=?utf-8?b?xQ==?= =?utf-8?b?vA==?=", "ż"),
        # Base64 without padding; a language tag (RFC 2231).
        ("=?UTF-8?B?yJh0ZWZhbg?=", "Ștefan"),
        ("=?utf-8*ro?q?=C8=98tefan?=", "Ștefan"),
        # An unknown charset and broken base64 stay as written; so does a codec that is no charset.
        ("Ana =?x-unknown?q?Pop?=", "Ana =?x-unknown?q?Pop?="),
        ("=?utf-8?b?!!not-base64?= Pop", "=?utf-8?b?!!not-base64?= Pop"),
        ("=?utf-8?b?QUJDR?=", "=?utf-8?b?QUJDR?="),
        ("=?rot13?q?Wna?=", "=?rot13?q?Wna?="),
        # Mislabelled: bytes that are not UTF-8 declared as UTF-8 (read as cp1250).
        ("=?utf-8?q?Nov=E1k?=", "Novák"),
        ("no words here", "no words here"),
    ],
)
def test_encoded_words(value: str, expected: str) -> None:
    assert decode_encoded_words(value) == expected


def test_unknown_charsets_and_broken_base64_are_noticed() -> None:
    assert has_undecodable_words("=?x-unknown?q?a?= <a@b.test>")
    assert has_undecodable_words("=?utf-8?b?*?= <a@b.test>")
    assert not has_undecodable_words("Jan =?utf-8?q?Nov=C3=A1k?= <a@b.test>")


def test_decoding_is_bounded() -> None:
    value = "=?utf-8?q?a?= " * 100_000
    assert decode_encoded_words(value, limit=1400) == "a" * 100 + " "


@given(st.text(alphabet=st.sampled_from("=?qQbBuUtTfF-8_ Aa/+xX\r\n\"'=C3A1\u017c"), max_size=80))
def test_decoding_never_raises(value: str) -> None:
    decode_encoded_words(value)
    has_undecodable_words(value)


# ---- names in real clients' mail ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "subject", "people"),
    [
        (
            "python_emailmessage_cs.eml",
            "Nabídka OP-482 – dodávka židlí",
            ["Jan Novák", "Zofia Wiśniewska", "Jürgen Müller", "Ioana Dumitrescu"],
        ),
        (
            "thunderbird_pl.eml",
            "Zamówienie OP-517 – termin dostawy mebli biurowych",
            ["Agnieszka Wójcik", "Paweł Zieliński", "Małgorzata Kowalczyk"],
        ),
        ("outlook_de.eml", "AW: Angebot für Bürostühle", ["Jürgen Müller", "Weiß, Anna", "Stefan Schäfer"]),
        ("gmail_ro.eml", "Ofertă pentru scaune de birou", ["Ștefan Popescu", "Ioana Dumitrescu", "Andrei Mărgineanu"]),
        ("apple_mail_cs.eml", "Dodávka židlí", ["Pavla Dvořáková", "Jürgen Müller", "Jiří Procházka"]),
    ],
)
def test_names_and_subjects_are_decoded(name: str, subject: str, people: list[str]) -> None:
    message = load(f"names_idn/{name}")

    assert message.subject == subject
    assert [m.name for m in (*message.from_, *message.to, *message.cc)] == people


def test_names_are_decoded_by_the_stdlib_reader_too() -> None:
    # Given a message flanker cannot read (the stdlib parser reads it instead)
    raw = (NAMES_IDN / "python_emailmessage_cs.eml").read_bytes()

    # When only the fallback reads it
    reading = parse._read_with_email(parse.Context(raw))

    # Then its names are decoded all the same
    assert reading.mailboxes["from"] == [Mailbox("Jan Novák", "jan.novak@stavby-novak.test")]
    assert reading.mailboxes["to"] == [Mailbox("Zofia Wiśniewska", f"zofia.wisniewska@{ZABKA}")]


def test_a_name_in_an_unknown_charset_stays_as_written() -> None:
    assert parse_addresses("=?x-unknown?q?Ana?= <ana@ro-logistica.test>") == (
        Mailbox("=?x-unknown?q?Ana?=", "ana@ro-logistica.test"),
    )


# ---- IDN: one matching form --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("żabka.test", ZABKA),
        ("ŻABKA.TEST.", ZABKA),
        (ZABKA, ZABKA),
        ("XN--ABKA-99A.test", ZABKA),
        ("müller.example", MUELLER),
        ("żabka\u3002test", ZABKA),  # an ideographic full stop is a dot (UTS #46)
        ("straße.example", "xn--strae-oqa.example"),  # IDNA 2008 keeps ß (2003 made it "ss")
        ("☃.example", "xn--n3h.example"),  # not IDNA 2008, but IDNA 2003 / UTS #46 transitional
        ("acme.test", "acme.test"),
        ("ż" * 64 + ".test", "ż" * 64 + ".test"),  # a label too long: as written
        ("\x00ż.test", "\x00ż.test"),
    ],
)
def test_domains_have_one_matching_form(domain: str, expected: str) -> None:
    assert normalize_domain(domain) == expected


def test_an_overlong_domain_is_left_alone() -> None:
    domain = "ż" * (MAX_DOMAIN + 1)
    assert normalize_domain(domain) == domain


@given(st.text(max_size=300))
def test_domains_never_raise(domain: str) -> None:
    unicode_domain(normalize_domain(domain))


def test_addresses_keep_their_local_part() -> None:
    assert normalize_address("Józef.Nowak@ŻABKA.test") == f"józef.nowak@{ZABKA}"
    assert submitter_address("<Anna@Żabka.Test>") == f"anna@{ZABKA}"
    assert unicode_address(f"józef.nowak@{ZABKA}") == "józef.nowak@żabka.test"
    assert unicode_domain("xn--a.test") == "xn--a.test"  # not punycode: as written


def test_the_import_stores_the_matching_form() -> None:
    assert imported_domain("Żabka.test") == ZABKA
    assert imported_domain("müller.example.") == MUELLER
    assert imported_address("Zofia.Wisniewska@żabka.test") == f"zofia.wisniewska@{ZABKA}"
    assert imported_address(f"zofia@{ZABKA}") == f"zofia@{ZABKA}"
    assert imported_domain("ż..test") is None
    assert imported_address("zofia@żabka.test.") is None


def _imported_directory() -> MemoryDirectory:
    """The directory as ``mailassist import`` fills it from a CSV written in Unicode."""
    found = directory()
    zofia = imported_address("zofia.wisniewska@żabka.test")
    assert zofia is not None
    found.contacts[zofia] = Contact(20, "Zofia Wiśniewska", 7, "Żabka")
    domain = imported_domain("müller.example")
    assert domain is not None
    found.client_domains[domain] = Entity(8, "Müller GmbH")
    return found


@pytest.mark.parametrize("name", ["python_emailmessage_cs.eml", "apple_mail_cs.eml", "outlook_de.eml"])
def test_idn_addresses_match_the_directory_in_either_form(name: str) -> None:
    # Given contacts and clients imported in Unicode, and mail naming them as A-labels (or raw UTF-8, Apple Mail)
    raw = (NAMES_IDN / name).read_bytes()
    envelope = Envelope(submitter=ANNA.email, proof="trusted-relay")

    # When the pipeline files it
    plan = run_pipeline(raw, envelope=envelope, settings=SETTINGS, directory=_imported_directory())

    # Then every IDN address matches, no lead is made for one, and participants hold the A-label form
    idn = [p for p in plan.participants if p.address.endswith((ZABKA, MUELLER))]
    assert idn
    assert all(p.match is not None for p in idn)
    assert not [lead for lead in plan.new_leads if lead.address.endswith((ZABKA, MUELLER))]
    assert all(p.address.isascii() for p in plan.participants)


def test_the_stored_sender_is_in_matching_form() -> None:
    raw = (NAMES_IDN / "outlook_de.eml").read_bytes()
    plan = run_pipeline(
        raw, envelope=Envelope(submitter=ANNA.email, proof="trusted-relay"), settings=SETTINGS, directory=directory()
    )
    now = datetime.now(UTC)
    inbound = InboundView("r1", now, "", (), None, None, len(raw), "0" * 64, "queued", 0, None, None, now, None)

    write = outcome_of(plan, inbound).write

    assert write is not None and write.message is not None
    assert write.message.from_address == f"juergen.mueller@{MUELLER}"
    assert write.message.from_name == "Jürgen Müller"
    assert {lead.address for lead in write.message.new_leads} == {
        f"juergen.mueller@{MUELLER}",
        f"stefan.schaefer@{MUELLER}",
        "anna.weiss@kunde-gruen.test",
    }
    assert {lead.name for lead in write.message.new_leads} == {"Jürgen Müller", "Stefan Schäfer", "Weiß, Anna"}
    assert {lead.company for lead in write.message.new_leads} == {"Müller", "Kunde Gruen"}
