"""Threads, filed for real: a reply inherits the client, contacts and records of the filed messages it answers,
but only of those its submitter may see, so a forged References header pulls nothing onto a client
(``linker/threads.py``). And ``+tag`` addresses match their untagged contact or lead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from linker.explain import explain_message
from linker.pipeline import Envelope
from mailassist.build import linker_settings, make_processor
from mailassist.config import load_config
from store import Store, Trust
from store.models import Client, Contact, Inbound, Lead, Link, Record
from store.shapes import ClientRow, ContactRow, RecordRow, UserRow
from tests.conftest import FIXTURES

THREADS = FIXTURES / "threads"
ASSISTANT = "assistant@crm.example.com"
ANNA, IOANA, PETR = "anna.nowak@example.com", "ioana.popescu@example.com", "petr.svoboda@example.com"
OFFER_ID = "AM9PR03MB74210A1B2C3D4E5F6A7B8C9D0E1F2@AM9PR03MB7421.eurprd03.prod.outlook.example"
GMAIL_REPLY_ID = "CAKx7Qm3yP0ZrV+dK2f9=Lw8hTqUe4nB1sJvXo5Ac@mail.gmail.test"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///unused.db"\nblob_dir = "blobs"\n'
        f'[assistant]\naddresses = ["{ASSISTANT}"]\n'
        '[organization]\ndomains = ["example.com"]\n[codes]\nOP = "deal"\n'
        '[linker]\nfree_mail_domains = ["gmail.test", "seznam.test"]\n'
    )
    return path


@pytest.fixture
def crm(store: Store) -> Store:
    store.directory.apply_users(
        [
            # Anna and Ioana sell in Poland (Ioana sees her team's mail); Petr in Czechia, and sees only his own.
            UserRow(line=2, email=ANNA, name="Anna Nowak", team="Sales Poland", role="own"),
            UserRow(line=3, email=IOANA, name="Ioana Popescu", team="Sales Poland", role="team"),
            UserRow(line=4, email=PETR, name="Petr Svoboda", team="Sales Czech", role="own"),
        ]
    )
    store.directory.apply_clients(
        [
            ClientRow(line=2, name="Acme Logistics", domains=("acme-logistics.test",)),
            ClientRow(line=3, name="Globex", domains=("globex.example",)),
        ]
    )
    store.directory.apply_contacts(
        [
            ContactRow(
                line=2, name="Jan Kowalski", emails=("jan.kowalski@acme-logistics.test",), client="Acme Logistics"
            ),
            ContactRow(line=3, name="Ion Popescu", emails=("ion.popescu@globex.example",), client="Globex"),
        ]
    )
    store.directory.apply_records(
        [RecordRow(line=2, code="OP-123", type="deal", title="Fleet renewal", client="Acme Logistics")]
    )
    return store


def _file(store: Store, config: Path, name: str, submitter: str) -> int:
    """File a fixture as ``submitter`` sent it (proven by their personal address); the message's id."""
    raw = (THREADS / name).read_bytes()
    inbound = store.receipts.add_inbound(
        raw, mail_from=submitter, rcpt_tos=[ASSISTANT], trust=Trust(submitter, "secret-address")
    )
    make_processor(load_config(config), store).process_now(inbound.id)
    with Session(store.engine) as s:
        row = s.get(Inbound, inbound.id)
        assert row is not None and row.status == "linked", (row.status, row.last_error) if row else None
        assert row.message_id is not None
        return row.message_id


def _links(store: Store, message_id: int) -> set[tuple[str, str, str]]:
    """The message's links as (type, label, reason)."""
    with Session(store.engine) as s:
        labels: dict[str, dict[int, str]] = {
            "client": {c.id: c.name for c in s.scalars(select(Client))},
            "contact": {c.id: c.name for c in s.scalars(select(Contact))},
            "lead": {x.id: x.address for x in s.scalars(select(Lead))},
            "record": {r.id: r.code for r in s.scalars(select(Record))},
        }
        return {
            (k.entity_type, labels.get(k.entity_type, {}).get(k.entity_id, "user"), k.reason)
            for k in s.scalars(select(Link).where(Link.message_id == message_id))
        }


def _explain(store: Store, config: Path, name: str, submitter: str) -> dict[str, Any]:
    settings = linker_settings(load_config(config))
    envelope = Envelope(submitter, (ASSISTANT,), submitter, "secret-address")
    return explain_message((THREADS / name).read_bytes(), settings, directory=store.directory, envelope=envelope)


def test_a_reply_from_a_private_address_lands_on_the_client_of_the_thread(crm: Store, config: Path) -> None:
    # Given Anna's offer to Jan, filed on Acme, Jan and OP-123
    offer = _file(crm, config, "offer_outlook_pl.eml", ANNA)
    assert {("client", "Acme Logistics", "address"), ("contact", "Jan Kowalski", "address")} <= _links(crm, offer)
    # When Jan answers from his Gmail, an address that matches nothing
    plan = _explain(crm, config, "reply_gmail_private_pl.eml", ANNA)
    reply = _file(crm, config, "reply_gmail_private_pl.eml", ANNA)
    # Then the reply is on Acme's, Jan's and the deal's timelines, through the thread
    assert _links(crm, reply) == {
        ("client", "Acme Logistics", "thread"),
        ("contact", "Jan Kowalski", "thread"),
        ("record", "OP-123", "thread"),
        ("lead", "jan.kowalski.prywatny@gmail.test", "new-lead"),
        ("user", "user", "submitter"),
    }
    # And the store keeps the filed message each thread link came from, as explain names it
    with Session(crm.engine) as s:
        sources = {
            k.from_message_id for k in s.scalars(select(Link).where(Link.message_id == reply)) if k.reason == "thread"
        }
    assert sources == {offer}
    # which the message page shows to whoever may see that message
    viewer = crm.queries.get_viewer(crm.directory.find_users_by_addresses([ANNA])[ANNA].id)
    assert viewer is not None
    detail = crm.queries.get_message(viewer, reply)
    assert detail is not None
    assert {c.from_message_id for c in detail.links if c.reason == "thread"} == {offer}
    thread = [k for k in plan["links"] if k["reason"] == "thread"]
    assert {k["type"] for k in thread} == {"client", "contact", "record"}
    assert all(k["from_message"] == {"id": offer, "message_id": OFFER_ID} for k in thread)
    # The free-mail address still makes a lead (DESIGN: leads for every unmatched address), with no company
    (gmail,) = [p for p in plan["participants"] if p["address"] == "jan.kowalski.prywatny@gmail.test"]
    assert (gmail["match"], gmail["no_lead"]) == (None, None)
    assert plan["new_leads"] == [
        {"address": "jan.kowalski.prywatny@gmail.test", "name": "Jan Kowalski", "company": None}
    ]


def test_a_forged_references_header_pulls_nothing_onto_someone_elses_client(crm: Store, config: Path) -> None:
    # Given Anna's offer to Acme, which Petr (another team, role own) may not see
    _file(crm, config, "offer_outlook_pl.eml", ANNA)
    # When Petr sends mail whose In-Reply-To and References name it, and even copies Anna (a shared participant)
    forged = _file(crm, config, "forged_references_thunderbird_cs.eml", PETR)
    # Then nothing of the offer's is inherited: no client, contact or deal, and explain says nothing came from it
    links = _links(crm, forged)
    assert not {k for k in links if k[0] in ("client", "contact", "record")}, links
    plan = _explain(crm, config, "forged_references_thunderbird_cs.eml", PETR)
    assert [k for k in plan["links"] if k["reason"] == "thread"] == []


def test_a_team_colleague_inherits_from_the_message_the_reply_answers(crm: Store, config: Path) -> None:
    # Given the offer and Jan's Gmail reply, both submitted by Anna
    _file(crm, config, "offer_outlook_pl.eml", ANNA)
    reply = _file(crm, config, "reply_gmail_private_pl.eml", ANNA)
    # When Ioana, in Anna's team and seeing the team's mail, answers Jan's Gmail reply
    answer = _file(crm, config, "reply_thunderbird_colleague_ro.eml", IOANA)
    # Then her answer is on Acme, Jan and the deal, through the thread, and on Jan's Gmail lead by address
    assert {
        ("client", "Acme Logistics", "thread"),
        ("contact", "Jan Kowalski", "thread"),
        ("record", "OP-123", "thread"),
        ("lead", "jan.kowalski.prywatny@gmail.test", "address"),
    } <= _links(crm, answer)
    # And the links come from the message it answers (In-Reply-To), not the older one References also names
    plan = _explain(crm, config, "reply_thunderbird_colleague_ro.eml", IOANA)
    thread = [k for k in plan["links"] if k["reason"] == "thread"]
    assert thread and all(k["from_message"] == {"id": reply, "message_id": GMAIL_REPLY_ID} for k in thread)
    # But Petr, outside the team, sending the very same mail inherits nothing
    plan = _explain(crm, config, "reply_thunderbird_colleague_ro.eml", PETR)
    assert [k for k in plan["links"] if k["reason"] == "thread"] == []


def test_plus_tagged_addresses_match_the_untagged_contact_and_lead(crm: Store, config: Path) -> None:
    with Session(crm.engine) as s, s.begin():
        s.execute(insert(Lead).values(address="vaclav@stavby-novak.test", name="Václav Dvořák", company="Stavby Novák"))
    plan = _explain(crm, config, "plus_tag_outlook_en.eml", ANNA)
    matches = {p["address"]: p["match"] for p in plan["participants"]}
    # The exact address matches nothing; without its +tag it is Ion the contact, and Václav's lead
    assert matches["ion.popescu+crm@globex.example"]["label"] == "Ion Popescu"
    assert matches["ion.popescu+crm@globex.example"]["via"] == "contact-untagged"
    assert matches["vaclav+orders@stavby-novak.test"]["via"] == "lead-untagged"
    # An unknown tagged address still becomes its own lead
    assert matches["mihai+news@gmail.test"] is None
    assert [lead["address"] for lead in plan["new_leads"]] == ["mihai+news@gmail.test"]
    assert {"type": "client", "id": 2, "label": "Globex", "reason": "address"} in plan["links"]
    assert {"type": "contact", "id": 2, "label": "Ion Popescu", "reason": "address"} in plan["links"]
