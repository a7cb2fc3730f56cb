"""Applying plans for the same email received twice, and for emails from one new address: one message, one lead."""

from __future__ import annotations

import dataclasses

from store import ApplyResult, LinkWrite, ParticipantWrite, Store
from store.models import Attachment, Lead, Link, Message, MessageCode, Participant
from tests.store.apply.support import JAN, LEAD, Ids, bcc, count, inbound, inbound_row, linked, rows


def test_second_receipt_of_an_email_unions_links_and_reuses_leads(store: Store, ids: Ids) -> None:
    # Given Anna's BCC is filed
    bcc_receipt, forward_receipt = inbound(store), inbound(store, b"forwarded")
    first = store.filing.apply_plan(bcc_receipt, linked(bcc(ids)))
    # When Jan forwards the same email: other participants, one new link, and the same "new" lead
    forward = dataclasses.replace(
        bcc(ids, submitter=ids.jan),
        kind="forward",
        participants=(ParticipantWrite("from", JAN.email, None, True, "user", ids.jan, "user"),),
        links=(
            LinkWrite("contact", "address", entity_id=ids.piotr),
            LinkWrite("user", "submitter", entity_id=ids.jan),
            LinkWrite("lead", "new-lead", lead_address=LEAD),
        ),
        codes=(),
        attachments=(),
    )
    second = store.filing.apply_plan(forward_receipt, linked(forward))

    # Then there is one message, written once, with the links of both receipts and one lead
    assert second == ApplyResult(
        applied=True, message_id=first.message_id, message_created=False, leads_created=(), links_added=1
    )
    assert count(store, Message) == 1
    assert rows(store, Message.kind, Message.submitter_user_id) == [("bcc", ids.anna)]
    assert count(store, Participant) == 3
    assert (count(store, MessageCode), count(store, Attachment)) == (2, 2)
    assert rows(store, Lead.address, Lead.owner_user_id) == [(LEAD, ids.anna)]
    assert rows(store, Link.entity_type) == [("client",), ("contact",), ("lead",), ("record",), ("user",)]
    assert inbound_row(store, bcc_receipt)[2] == inbound_row(store, forward_receipt)[2] == first.message_id


def test_a_lead_is_shared_by_every_email_from_its_address(store: Store, ids: Ids) -> None:
    first = store.filing.apply_plan(inbound(store), linked(bcc(ids, key="<one@x>")))

    second = store.filing.apply_plan(inbound(store), linked(bcc(ids, key="<two@x>", submitter=ids.jan)))

    assert (first.leads_created, second.leads_created) == ((LEAD,), ())
    assert second.message_created
    assert rows(store, Lead.address, Lead.owner_user_id, Lead.first_message_id) == [(LEAD, ids.anna, first.message_id)]
    (lead_id,) = [lead.id for lead in store.directory.find_people([LEAD]).leads.values()]
    assert rows(store, Link.message_id).count((second.message_id,)) == 4
    assert (second.message_id, "lead", lead_id) in rows(store, Link.message_id, Link.entity_type, Link.entity_id)
