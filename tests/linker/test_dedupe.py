"""One email, two receipts: the same client mail attached by one user and forwarded inline by another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from linker.model import Mailbox, Original
from linker.pipeline import content_key, dedupe_key
from linker.settings import LinkerSettings
from linker.tasks import Processor, QueueSettings, linker_pipeline
from store import Store
from store.models import Inbound, Lead, Link, Message
from store.shapes import ClientRow, ContactRow, MessageWrite, PlanWrite, UserRow
from tests.conftest import FIXTURES

E2E = FIXTURES / "e2e"
SETTINGS = LinkerSettings.build(assistant_addresses=["assistant@crm.example.com"], organization_domains=["example.com"])


def _original(body: str, date: datetime | None, message_id: str | None = None) -> Original:
    sender = Mailbox("Jan Kowalski", "jan.kowalski@acme-logistics.pl")
    return Original(sender, (), (), date, "Re: Oferta", message_id, body, None, None)


def test_attached_and_inline_copies_are_one_message(store: Store) -> None:
    store.directory.apply_users(
        [
            UserRow(2, "anna.nowak@example.com", "Anna Nowak", None, "all"),
            UserRow(3, "piotr.zielinski@example.com", "Piotr Zieliński", None, "all"),
        ]
    )
    store.directory.apply_clients([ClientRow(2, "Acme Logistics", ("acme-logistics.pl",), ())])
    store.directory.apply_contacts(
        [ContactRow(2, "Jan Kowalski", ("jan.kowalski@acme-logistics.pl",), "Acme Logistics")]
    )
    processor = Processor(store, QueueSettings(), linker_pipeline(SETTINGS, store.directory))
    ids = []
    for name, sender in [
        ("same_claim_attached_by_piotr.eml", "piotr.zielinski@example.com"),
        ("same_claim_inline_by_anna.eml", "anna.nowak@example.com"),
    ]:
        inbound = store.receipts.add_inbound(
            (E2E / name).read_bytes(), mail_from=sender, rcpt_tos=["assistant@crm.example.com"]
        )
        processor.process_now(inbound.id)
        ids.append(inbound.id)
    with Session(store.engine) as s:
        messages = s.scalars(select(Message)).all()
        assert len(messages) == 1
        assert messages[0].message_id_header == "claim-1411-7781@acme-logistics.pl"
        assert [s.get(Inbound, i).message_id for i in ids] == [messages[0].id] * 2  # type: ignore[union-attr]
        submitters = sorted(
            s.scalars(select(Link.entity_id).where(Link.entity_type == "user", Link.message_id == messages[0].id))
        )
    # Links are unioned: both users who submitted it are on it
    assert len(submitters) == 2


def test_short_or_distant_emails_are_never_merged() -> None:
    monday = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    friday = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    # "Thanks" says too little to be recognised by content
    assert content_key(_original("Dziękuję!", monday)) is None
    # Without Message-IDs, the same words on different days are different emails
    body = "Potwierdzam odbiór dokumentów, dziękuję za szybką odpowiedź i pozdrawiam serdecznie."
    assert dedupe_key(_original(body, monday)) != dedupe_key(_original(body, friday))
    # but the content key is the same, so the store can merge copies whose dates are close
    assert content_key(_original(body, monday)) == content_key(_original("  " + body.replace(" ", "\n"), friday))
    # With a Message-ID, the key is the Message-ID and the content: re-wrapping and quoting do not change it
    with_id = dedupe_key(_original(body, monday, "<A@x>"))
    assert with_id.startswith("mid:a@x#")
    assert dedupe_key(_original("> " + body.replace(" ", "\n> "), friday, "<a@X>")) == with_id


def test_a_message_id_with_other_content_is_another_email() -> None:
    # Message-IDs leak through References and In-Reply-To: "x" under Anna's Message-ID is not her email
    monday = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    pricing = "Poufne: cennik floty OP-999, rabat 18 % dla Acme do końca roku, proszę nie przekazywać dalej."
    assert dedupe_key(_original(pricing, monday, "<X@example.com>")) != dedupe_key(
        _original("x", monday, "<X@example.com>")
    )
    # A very long Message-ID still fits the column
    long_id = dedupe_key(_original(pricing, monday, "<" + "a" * 900 + "@example.com>"))
    assert len(long_id) <= 200


def test_the_same_words_to_other_people_are_other_emails() -> None:
    # One template sent separately to John (Acme) and to Greta (Globex)
    monday = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    template = "Dzień dobry, w załączeniu przesyłam naszą ofertę na odnowienie floty na rok 2027. Pozdrawiam, Anna"
    sender = Mailbox("Anna Nowak", "anna.nowak@example.com")

    def to(*recipients: str) -> Original:
        people = tuple(Mailbox(None, r) for r in recipients)
        return Original(sender, people, (), monday, "Oferta", None, template, None, None)

    assert content_key(to("john@acme.test")) != content_key(to("greta@globex.ro"))
    assert dedupe_key(to("john@acme.test")) != dedupe_key(to("greta@globex.ro"))
    # Order and case of the recipients do not matter
    assert content_key(to("John@Acme.test", "greta@globex.ro")) == content_key(to("greta@globex.ro", "john@acme.test"))


def _write(key: str, date: datetime) -> PlanWrite:
    message = MessageWrite(
        dedupe_key=key, message_id_header=None, subject="s", date=date, from_name=None, from_address="a@b.test",
        direction="incoming", kind="forward", submitter_user_id=None, body_text="b", body_html=None, note=None,
        raw_sha256="0" * 64, content_key="c" * 64,
    )  # fmt: skip
    return PlanWrite("linked", None, message)


def test_same_content_merges_only_within_the_date_window(store: Store) -> None:
    base = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    results = []
    for key, date in [
        ("mid:one", base),
        ("sha:two", base + timedelta(hours=2)),
        ("sha:three", base + timedelta(hours=30)),
    ]:
        inbound = store.receipts.add_inbound(key.encode(), mail_from="", rcpt_tos=["x@y.z"])
        results.append(store.filing.apply_plan(inbound.id, _write(key, date)))
    assert [r.message_created for r in results] == [True, False, True]
    assert results[0].message_id == results[1].message_id != results[2].message_id


#: Anna's confidential mail to a client.
PRICING = (
    "From: Anna Nowak <anna.nowak@example.com>\r\nTo: John Miller <john@acme.test>\r\n"
    "Subject: OP-999 confidential pricing\r\nMessage-ID: <X-7731@mail.example.com>\r\n"
    "Date: Mon, 16 Nov 2026 09:00:00 +0100\r\n\r\n"
    "John, our best price for the fleet is 41,200 EUR per vehicle. Please keep this between us.\r\n"
)
#: Bogdan's own "x" under the Message-ID of ``PRICING`` (seen in a References header), to an address he chose.
REUSE = (
    "From: Bogdan Novak <bogdan.novak@example.com>\r\nTo: mallory@evil.test\r\nSubject: x\r\n"
    "Message-ID: <X-7731@mail.example.com>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0100\r\n\r\nx\r\n"
)


def _process_in_turn(store: Store, *mails: tuple[str, str]) -> list[str]:
    """Each ``(raw, sender)`` received and processed by the real processor, in turn; their receipts' ids."""
    processor = Processor(store, QueueSettings(), linker_pipeline(SETTINGS, store.directory))
    ids: list[str] = []
    for raw, sender in mails:
        inbound = store.receipts.add_inbound(raw.encode(), mail_from=sender, rcpt_tos=["assistant@crm.example.com"])
        processor.process_now(inbound.id)
        ids.append(inbound.id)
    return ids


def _api_statuses(store: Store, reads: list[tuple[int, int]]) -> list[int]:
    """The status of ``GET /api/messages/{id}`` for each ``(message id, user id)``, with a token of that user's."""
    from starlette.testclient import TestClient

    from web.app import create_app
    from web.auth.passwords import hash_api_token, new_api_token

    tokens = {uid: new_api_token() for uid in {uid for _message_id, uid in reads}}
    for uid, token in tokens.items():
        store.auth.add_api_token(uid, "tests", hash_api_token(token))
    with TestClient(create_app(store, secret_key="k" * 32)) as client:
        return [
            client.get(f"/api/messages/{message_id}", headers={"Authorization": f"Bearer {tokens[uid]}"}).status_code
            for message_id, uid in reads
        ]


def test_a_reused_message_id_exposes_nothing_of_the_first_email(store: Store) -> None:
    # Given Anna (Sales PL) and Bogdan (Sales CZ), each seeing only their own mail
    store.directory.apply_users(
        [
            UserRow(2, "anna.nowak@example.com", "Anna Nowak", "Sales PL", "own"),
            UserRow(3, "bogdan.novak@example.com", "Bogdan Novák", "Sales CZ", "own"),
        ]
    )
    anna, bogdan = (store.auth.get_login(e).id for e in ("anna.nowak@example.com", "bogdan.novak@example.com"))  # type: ignore[union-attr]
    # When Bogdan, who saw <X-7731@…> in a References header, sends his own "x" under it, to an address he chose
    ids = _process_in_turn(store, (PRICING, "anna.nowak@example.com"), (REUSE, "bogdan.novak@example.com"))

    # Then they are two emails, and Anna's gained nothing from Bogdan's copy
    with Session(store.engine) as s:
        annas, bogdans = (s.get(Inbound, i).message_id for i in ids)  # type: ignore[union-attr]
        assert annas is not None and bogdans is not None and annas != bogdans
        links = set(s.execute(select(Link.entity_type, Link.entity_id).where(Link.message_id == annas)).all())
        assert ("user", bogdan) not in links
        lead_ids = [lead_id for kind, lead_id in links if kind == "lead"]
        assert s.scalars(select(Lead.address).where(Lead.id.in_(lead_ids))).all() == ["john@acme.test"]
    # And Bogdan's API sees his own email, and nothing of Anna's
    assert _api_statuses(store, [(annas, bogdan), (bogdans, bogdan), (annas, anna)]) == [404, 200, 200]
    # And the reuse is counted for /metrics
    assert store.metrics.metrics_snapshot().message_id_collisions == 1


def test_one_template_sent_to_two_clients_stays_two_emails(store: Store) -> None:
    store.directory.apply_users([UserRow(2, "anna.nowak@example.com", "Anna Nowak", None, "all")])
    store.directory.apply_clients(
        [ClientRow(2, "Acme", ("acme.test",), ()), ClientRow(3, "Globex", ("globex.ro",), ())]
    )
    processor = Processor(store, QueueSettings(), linker_pipeline(SETTINGS, store.directory))
    body = "Dear client, please find attached our offer for the fleet renewal in 2027. Kind regards, Anna Nowak"
    for n, to in enumerate(("John <john@acme.test>", "Greta <greta@globex.ro>")):
        raw = (
            f"From: Anna Nowak <anna.nowak@example.com>\r\nTo: {to}\r\nSubject: Fleet offer\r\n"
            f"Message-ID: <tpl-{n}@mail.example.com>\r\nDate: Mon, 16 Nov 2026 09:0{n}:00 +0100\r\n\r\n{body}\r\n"
        )
        inbound = store.receipts.add_inbound(
            raw.encode(), mail_from="anna.nowak@example.com", rcpt_tos=["assistant@crm.example.com"]
        )
        processor.process_now(inbound.id)

    with Session(store.engine) as s:
        messages = s.scalars(select(Message.id).order_by(Message.id)).all()
        clients = [
            sorted(s.scalars(select(Link.entity_id).where(Link.message_id == m, Link.entity_type == "client")))
            for m in messages
        ]
    # Each is on its own client's timeline only
    assert len(messages) == 2
    assert len(clients[0]) == len(clients[1]) == 1 and clients[0] != clients[1]


def test_one_mail_to_thousands_makes_at_most_fifty_leads() -> None:
    from linker.directory import MemoryDirectory, User
    from linker.pipeline import MAX_NEW_LEADS, MAX_PARTICIPANTS, Envelope, run_pipeline

    settings = LinkerSettings.build(
        assistant_addresses=["assistant@crm.example.com"], organization_domains=["example.com"]
    )
    directory = MemoryDirectory(users={"anna.nowak@example.com": User(1, "anna.nowak@example.com", "Anna Nowak")})
    to = ",\r\n ".join(f"Person {i} <person{i}@company{i}.example>" for i in range(5_000))
    raw = (
        f"From: Anna Nowak <anna.nowak@example.com>\r\nTo: {to}\r\nSubject: Offer\r\n"
        "Message-ID: <fanout@example.com>\r\n\r\nHello everyone.\r\n"
    ).encode()

    plan = run_pipeline(raw, envelope=Envelope("anna.nowak@example.com"), settings=settings, directory=directory)

    assert plan.decision == "accept"
    assert len(plan.new_leads) == MAX_NEW_LEADS == 50
    assert len([k for k in plan.links if k.reason == "new-lead"]) == MAX_NEW_LEADS
    assert len(plan.participants) == MAX_PARTICIPANTS
    assert plan.new_leads[0].address == "person0@company0.example"  # the first ones, in header order
