"""End to end over SMTP: a real ``mailassist serve`` files real-format mail on the right client, contact, lead
and deal, with the reason for each link (DESIGN.md, "Classifying a message")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from store import Store
from store.models import Client, Contact, Inbound, Lead, Link, Message, Record
from tests.conftest import FIXTURES, free_port
from tests.support import ASSISTANT, USER, Child, queue_rows, run_cli, running, send, wait_until, write_config

pytestmark = pytest.mark.slow
E2E = FIXTURES / "e2e"

DIRECTORY = {
    "users": "email,name,team,role,aliases\nanna.nowak@example.com,Anna Nowak,Sales Poland,team,\n",
    "clients": "name,domains,emails\nAcme Logistics,acme-logistics.pl,biuro@acme-logistics.pl\nGlobex,globex.ro,\n",
    "contacts": "name,emails,client\nJan Kowalski,jan.kowalski@acme-logistics.pl,Acme Logistics\n",
    "records": "code,type,title,client\nOP-123,deal,Fleet renewal 2027,Acme Logistics\nOP-124,deal,Vans,Globex\n",
}


@dataclass
class Stack:
    child: Child
    port: int
    config: Path
    store: Store

    def deliver(self, name: str, *, mail_from: str = USER) -> str:
        reply = send(self.port, (E2E / name).read_bytes(), mail_from=mail_from, rcpt=ASSISTANT)
        assert reply.code == 250, reply
        assert reply.queued_id is not None
        return reply.queued_id

    def settled(self, *ids: str) -> dict[str, dict[str, object]]:
        def done() -> bool:
            rows = {r["id"]: r for r in queue_rows(self.config)}
            return all(rows.get(i, {}).get("status") not in (None, "queued") for i in ids)

        assert wait_until(done, timeout=30), self.child.log_text()[-3000:]
        return {r["id"]: r for r in queue_rows(self.config)}

    def message_of(self, inbound_id: str) -> tuple[Message, list[tuple[str, str, str]]]:
        """The message a receipt was filed as, and its links as (type, label, reason)."""
        with Session(self.store.engine) as s:
            inbound = s.get(Inbound, inbound_id)
            assert inbound is not None and inbound.message_id is not None, inbound
            message = s.get(Message, inbound.message_id)
            assert message is not None
            labels = {
                "client": {c.id: c.name for c in s.scalars(select(Client))},
                "contact": {c.id: c.name for c in s.scalars(select(Contact))},
                "lead": {x.id: x.address for x in s.scalars(select(Lead))},
                "record": {r.id: r.code for r in s.scalars(select(Record))},
                "user": {1: "Anna Nowak"},
            }
            links = [
                (k.entity_type, labels[k.entity_type].get(k.entity_id, "?"), k.reason)
                for k in s.scalars(select(Link).where(Link.message_id == message.id))
            ]
            s.expunge(message)
        return message, sorted(links)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    port = free_port()
    config = write_config(
        tmp_path / "mailassist.toml",
        {
            "smtp": {"listen": f"127.0.0.1:{port}"},
            "web": {"listen": f"127.0.0.1:{free_port()}"},
            "assistant": {"addresses": [ASSISTANT]},
            "organization": {"domains": ["example.com"]},
            "store": {"url": f"sqlite:///{tmp_path / 'm.db'}", "blob_dir": str(tmp_path / "blobs")},
            "queue": {"sweep_interval": 1, "min_backoff": 0.2, "max_backoff": 1},
            "codes": {"OP": "deal"},
        },
    )
    with (tmp_path / "mailassist.toml").open("a") as fh:
        fh.write(
            '\n[[linker.ignore]]\nname = "newsletters"\nmatch = "*@news.example.org"\nsubject = "(?i)newsletter"\n'
        )
    for kind in ("users", "clients", "contacts", "records"):
        (tmp_path / f"{kind}.csv").write_text(DIRECTORY[kind])
        result = run_cli(config, "import", kind, str(tmp_path / f"{kind}.csv"))
        assert result.returncode == 0, result.stderr
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    with running(config, "serve", log_path=tmp_path / "serve.log") as child:
        try:
            yield Stack(child, port, config, store)
        finally:
            store.close()


def test_bcc_files_on_contact_client_and_deal(stack: Stack) -> None:
    inbound_id = stack.deliver("bcc_outgoing_pl.eml")
    assert stack.settled(inbound_id)[inbound_id]["status"] == "linked"
    message, links = stack.message_of(inbound_id)
    assert (message.kind, message.direction) == ("bcc", "outgoing")
    assert message.subject == "Oferta na odnowienie floty OP-123"
    assert links == [
        ("client", "Acme Logistics", "address"),
        ("contact", "Jan Kowalski", "address"),
        ("record", "OP-123", "code"),
        ("user", "Anna Nowak", "submitter"),
    ]
    # Ewa is at the client's domain: matched to the client by domain, not made a lead
    with Session(stack.store.engine) as s:
        assert s.scalars(select(Lead)).all() == []


def test_reply_without_code_inherits_the_deal_through_the_thread(stack: Stack) -> None:
    first = stack.deliver("bcc_outgoing_pl.eml")
    stack.settled(first)
    reply = stack.deliver("reply_without_code_pl.eml")
    stack.settled(reply)
    _, links = stack.message_of(reply)
    assert ("record", "OP-123", "thread") in links
    assert ("contact", "Jan Kowalski", "address") in links


def test_inline_forward_unwraps_and_creates_a_lead(stack: Stack) -> None:
    inbound_id = stack.deliver("forward_inline_outlook_pl.eml")
    assert stack.settled(inbound_id)[inbound_id]["status"] == "linked"
    message, links = stack.message_of(inbound_id)
    assert (message.kind, message.direction) == ("forward", "incoming")
    assert message.from_address == "t.wisniewski@nowa-firma.pl"
    assert message.subject == "Zapytanie ofertowe - 40 naczep"
    assert message.note == "Nowy klient, proszę o wpis do CRM."
    assert ("lead", "t.wisniewski@nowa-firma.pl", "new-lead") in links
    with Session(stack.store.engine) as s:
        lead = s.scalars(select(Lead)).one()
        assert (lead.name, lead.company, lead.owner_user_id) == ("Tomasz Wiśniewski", "Nowa Firma", 1)


def test_attached_forward_files_on_the_original_sender_and_code(stack: Stack) -> None:
    inbound_id = stack.deliver("forward_attached_ro.eml")
    stack.settled(inbound_id)
    message, links = stack.message_of(inbound_id)
    assert (message.kind, message.direction) == ("forward", "incoming")
    assert message.message_id_header == "0102018f-globex-order-124@globex.ro"
    assert message.note == "Ion confirmed the order, see attached."
    assert ("client", "Globex", "domain") in links
    assert ("record", "OP-124", "code") in links


def test_messages_forwarded_together_as_attachments_are_each_filed(stack: Stack) -> None:
    # Outlook's forward of three selected emails: one receipt over SMTP, three messages on three timelines
    inbound_id = stack.deliver("forward_three_attached_outlook_pl.eml")
    stack.settled(inbound_id)

    def all_settled() -> bool:
        rows = queue_rows(stack.config)
        return len(rows) == 3 and all(r["status"] == "linked" for r in rows)

    assert wait_until(all_settled, timeout=30), queue_rows(stack.config)
    message, links = stack.message_of(inbound_id)
    assert message.message_id_header == "b7c1f0e2-acme-fleet-0923@acme-logistics.pl"
    assert ("record", "OP-123", "code") in links
    others = [r["id"] for r in queue_rows(stack.config) if r["id"] != inbound_id]
    ion, tomasz = sorted((stack.message_of(i) for i in others), key=lambda found: found[0].from_address or "")
    assert ion[0].from_address == "ion.popescu@globex.ro"
    assert ("client", "Globex", "domain") in ion[1]
    assert tomasz[0].from_address == "tomasz.lis@transbud-lis.pl"
    assert ("lead", "tomasz.lis@transbud-lis.pl", "new-lead") in tomasz[1]


def test_mailbox_rule_redirect(stack: Stack) -> None:
    # Gmail "forward a copy": the envelope sender is the user's address with a +caf_ tag
    inbound_id = stack.deliver(
        "redirect_gmail_pl.eml", mail_from="anna.nowak+caf_=assistant=crm.example.com@example.com"
    )
    stack.settled(inbound_id)
    message, links = stack.message_of(inbound_id)
    assert (message.kind, message.direction) == ("redirect", "incoming")
    assert ("contact", "Jan Kowalski", "address") in links
    assert ("user", "Anna Nowak", "submitter") in links


def test_same_email_twice_is_one_message_with_two_receipts(stack: Stack) -> None:
    first = stack.deliver("bcc_outgoing_pl.eml")
    again = stack.deliver("bcc_outgoing_pl.eml")  # an SMTP retry, or BCC'd by a second user
    rows = stack.settled(first, again)
    assert rows[first]["status"] == rows[again]["status"] == "linked"
    m1, links1 = stack.message_of(first)
    m2, links2 = stack.message_of(again)
    assert m1.id == m2.id
    assert links1 == links2
    with Session(stack.store.engine) as s:
        assert len(s.scalars(select(Message)).all()) == 1


def test_ignore_rule_ends_ignored_with_the_rule_named(stack: Stack) -> None:
    inbound_id = stack.deliver("newsletter_ignored.eml", mail_from="bounce-42@news.example.org")
    row = stack.settled(inbound_id)[inbound_id]
    assert row["status"] == "ignored"
    assert "newsletters" in str(row["reason"])
    with Session(stack.store.engine) as s:
        assert s.scalars(select(Lead)).all() == []


def test_automated_and_internal_mail_end_ignored_with_the_reason_in_the_ingest_log(stack: Stack) -> None:
    # Given a client's Exchange out-of-office reply redirected by Anna's mailbox, and Anna's mail to a colleague
    automated = FIXTURES / "linker" / "automated" / "exchange_automatic_reply_pl.eml"
    reply = send(stack.port, automated.read_bytes(), mail_from=USER, rcpt=ASSISTANT)
    internal = (
        b"From: Anna Nowak <anna.nowak@example.com>\r\nTo: ewa.kowalczyk@example.com\r\n"
        b"Subject: Grafik OP-123\r\n\r\nGrafik na grudzien.\r\n"
    )
    colleague = send(stack.port, internal, mail_from=USER, rcpt=ASSISTANT)
    assert reply.queued_id is not None and colleague.queued_id is not None
    # When they are processed
    rows = stack.settled(reply.queued_id, colleague.queued_id)
    # Then both end ignored, the ingest log (mailassist queue --json) saying why, and nothing is filed
    assert rows[reply.queued_id]["status"] == "ignored"
    assert str(rows[reply.queued_id]["reason"]).startswith("automated: auto-reply subject 'Automatyczna odpowiedź:")
    assert rows[colleague.queued_id]["status"] == "ignored"
    assert rows[colleague.queued_id]["reason"] == "internal only: no participant outside the organisation"
    with Session(stack.store.engine) as s:
        assert s.scalars(select(Message)).all() == []
        assert s.scalars(select(Lead)).all() == []


def test_leads_are_not_duplicated_across_messages(stack: Stack) -> None:
    a = stack.deliver("new_lead_cz_1.eml")
    stack.settled(a)
    b = stack.deliver("new_lead_cz_2.eml")
    stack.settled(b)
    _, links_a = stack.message_of(a)
    _, links_b = stack.message_of(b)
    with Session(stack.store.engine) as s:
        leads = s.scalars(select(Lead)).all()
    assert [(lead.address, lead.name, lead.company) for lead in leads] == [
        ("petra.svobodova@novyklient.cz", "Petra Svobodová", "Novyklient")
    ]
    assert ("lead", "petra.svobodova@novyklient.cz", "new-lead") in links_a
    assert ("lead", "petra.svobodova@novyklient.cz", "address") in links_b
