"""Several messages forwarded as attachments of one mail (Outlook's forward of selected items): the first is the
forward's original, and each other one is filed from a receipt of its own, for the same user."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from linker.model import LinkPlan
from linker.parse import parse_message
from linker.pipeline import MAX_ALSO_ATTACHED, Envelope, plan_message
from linker.tasks import Processor, QueueSettings, linker_pipeline
from store import Store, Trust
from store.models import Client, Contact, Inbound, Lead, Link, Message
from store.shapes import ClientRow, ContactRow, UserRow
from tests.conftest import FIXTURES
from tests.linker.support import ANNA, ASSISTANT, SETTINGS, directory, mail

RAW = (FIXTURES / "e2e" / "forward_three_attached_outlook_pl.eml").read_bytes()
PROVEN = Envelope(ANNA.email, [ASSISTANT], ANNA.email, "dkim")


def _client_mail(n: int) -> bytes:
    return (
        f"From: Client {n} <client{n}@firma{n}.pl>\r\nTo: {ANNA.email}\r\nSubject: Sprawa {n}\r\n"
        f"Message-ID: <sprawa-{n}@firma{n}.pl>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0100\r\n\r\nTreść sprawy {n}.\r\n"
    ).encode()


def _forward_of(*attached: bytes, text: str = "Do CRM.") -> bytes:
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = ANNA.email, ASSISTANT, "Maile do CRM"
    outer.set_content(text)
    for raw in attached:
        outer.add_attachment(raw, maintype="message", subtype="rfc822")
    return outer.as_bytes()


def _plan(raw: bytes) -> LinkPlan:
    return plan_message(parse_message(raw), envelope=PROVEN, settings=SETTINGS, directory=directory())


def test_the_messages_beside_the_original_are_handed_on_in_order() -> None:
    plan = _plan(RAW)
    assert plan.kind == "forward" and plan.original is not None
    assert plan.original.from_ is not None and plan.original.from_.address == "jan.kowalski@acme-logistics.pl"
    assert [mail(raw.decode()).from_[0].address for raw in plan.also_attached] == [
        "ion.popescu@globex.ro",
        "tomasz.lis@transbud-lis.pl",
    ]


def test_one_attached_message_an_inline_forward_and_a_report_hand_on_none() -> None:
    assert _plan(_forward_of(_client_mail(1))).also_attached == ()
    inline = "---------- Forwarded message ---------\nFrom: Client 9 <client9@firma9.pl>\nSubject: X\nDate: 1\n\nhi"
    assert _plan(_forward_of(_client_mail(1), _client_mail(2), text=inline)).also_attached == ()
    report = mail(
        f"From: postmaster@example.com\nTo: {ANNA.email}\nSubject: Undeliverable\nContent-Type: multipart/report;"
        ' report-type=delivery-status; boundary="b"\n\n--b\nContent-Type: text/plain\n\nfailed\n--b\n'
        "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; x@y.pl\n--b\n"
        "Content-Type: message/rfc822\n\nFrom: a@b.pl\nSubject: one\n\none\n--b\n"
        "Content-Type: message/rfc822\n\nFrom: c@d.pl\nSubject: two\n\ntwo\n--b--\n"
    )
    plan = plan_message(report, envelope=PROVEN, settings=SETTINGS, directory=directory())
    assert plan.also_attached == ()


def test_fan_out_is_capped() -> None:
    plan = _plan(_forward_of(*(_client_mail(n) for n in range(MAX_ALSO_ATTACHED + 6))))
    assert len(plan.also_attached) == MAX_ALSO_ATTACHED
    assert plan.also_attached[0] == _client_mail(1)  # the first attached is the forward's original


def _seed(store: Store) -> Processor:
    store.directory.apply_users([UserRow(2, ANNA.email, ANNA.name, None, "all")])
    store.directory.apply_clients(
        [ClientRow(2, "Acme Logistics", ("acme-logistics.pl",), ()), ClientRow(3, "Globex", ("globex.ro",), ())]
    )
    store.directory.apply_contacts(
        [ContactRow(2, "Jan Kowalski", ("jan.kowalski@acme-logistics.pl",), "Acme Logistics")]
    )
    return Processor(store, QueueSettings(), linker_pipeline(SETTINGS, store.directory))


def _receive(store: Store, processor: Processor, raw: bytes = RAW, source: str = "smtp") -> str:
    inbound = store.receipts.add_inbound(
        raw, mail_from=ANNA.email, rcpt_tos=[ASSISTANT], trust=Trust(ANNA.email, "dkim"), source=source
    )
    processor.process_now(inbound.id)
    return inbound.id


def _filed(store: Store) -> dict[str, tuple[str, str, str, str, list[str]]]:
    """Each receipt by id: its status, source and proof, its message's sender, and what that is linked to."""
    with Session(store.engine) as s:
        names = {("client", c.id): c.name for c in s.scalars(select(Client))}
        names |= {("contact", c.id): c.name for c in s.scalars(select(Contact))}
        names |= {("lead", x.id): x.address for x in s.scalars(select(Lead))}
        out: dict[str, tuple[str, str, str, str, list[str]]] = {}
        for inbound in s.scalars(select(Inbound)):
            message = s.get(Message, inbound.message_id) if inbound.message_id else None
            links = s.scalars(select(Link).where(Link.message_id == (message.id if message else -1)))
            linked = sorted(f"{k.entity_type}:{names.get((k.entity_type, k.entity_id), '?')}" for k in links)
            sender = message.from_address if message else None
            out[inbound.id] = (inbound.status, inbound.source, inbound.proof or "", sender or "", linked)
        return out


def test_each_message_forwarded_beside_the_original_is_filed_from_a_receipt_of_its_own(store: Store) -> None:
    processor = _seed(store)
    parent = _receive(store, processor)
    filed = _filed(store)
    assert filed.pop(parent)[:4] == ("linked", "smtp", "dkim", "jan.kowalski@acme-logistics.pl")
    others = sorted(filed.values(), key=lambda row: row[3])
    assert [row[:4] for row in others] == [
        ("linked", f"attached:{parent}", "attached", "ion.popescu@globex.ro"),
        ("linked", f"attached:{parent}", "attached", "tomasz.lis@transbud-lis.pl"),
    ]
    assert "client:Globex" in others[0][4]
    assert "lead:tomasz.lis@transbud-lis.pl" in others[1][4]
    with Session(store.engine) as s:
        kinds = {m.from_address: (m.kind, m.direction, m.submitter_user_id) for m in s.scalars(select(Message))}
    # Mail the user received, handed in by her: hers to see, filed as it reached her
    anna = kinds["jan.kowalski@acme-logistics.pl"][2]
    assert kinds["ion.popescu@globex.ro"] == kinds["tomasz.lis@transbud-lis.pl"] == ("redirect", "incoming", anna)


def test_the_same_mail_again_makes_no_second_receipt_for_what_it_carries(store: Store) -> None:
    processor = _seed(store)
    first = _receive(store, processor)
    again = _receive(store, processor)  # an SMTP retry, or the same forward sent twice
    filed = _filed(store)
    assert len(filed) == 4  # two of the forward, one each for the two messages beside the original
    assert sum(row[1] == f"attached:{first}" for row in filed.values()) == 2
    assert not any(row[1] == f"attached:{again}" for row in filed.values())
    with Session(store.engine) as s:
        assert len(s.scalars(select(Message)).all()) == 3


def test_a_receipt_made_for_an_attached_message_hands_on_nothing(store: Store) -> None:
    # One level only: what a carried message carries stays in it, so one mail costs at most MAX_ALSO_ATTACHED
    processor = _seed(store)
    _receive(store, processor, source="attached:0123456789abcdef")
    assert len(_filed(store)) == 1
