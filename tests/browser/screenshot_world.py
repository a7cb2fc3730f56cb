"""The screenshot tests' world: ``seed``'s, plus a salesperson, a second client and a few receipts that end other
ways than ``linked``, with every time the store wrote from its own clock set to a fixed one afterwards, and
receipt ids renumbered in the order they were made. The pages then draw the same pixels on every run."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from store import LinkWrite, MessageWrite, ParticipantWrite, PlanWrite, Store
from store.kept_models import IndexCount, TeamCount, TeamMail
from store.models import Base, Inbound, Message, UTCDateTime
from store.shapes import ClientRow, ContactRow, UserRow
from tests.browser.conftest import EMAIL, PASSWORD, World, seed
from web.auth.passwords import hash_password

#: The viewer's "now" in these tests: the day after the last seeded mail, so that the dashboard's windows hold it.
FROZEN_NOW = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)
#: What every time the store took from its clock while seeding becomes (unless set from a message's date below).
SEEDED_AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
#: A salesperson of Anna's team (role ``team``): the pages that differ by role are shot as this user too.
SALES_EMAIL = "marek@crm.example.com"
SALES_NAME = "Marek Zieliński"
ENVELOPE: dict[str, Any] = {"mail_from": EMAIL, "rcpt_tos": ["assistant@crm.example.com"]}
OTHER_CLIENT = "Nordwind Freight"
OTHER_CONTACT = ("Lena Schmidt", "lena.schmidt@nordwind.example")


def _raw(subject: str, sender: str) -> bytes:
    return f"From: {sender}\r\nTo: assistant@crm.example.com\r\nSubject: {subject}\r\n\r\nHello\r\n".encode()


def _reply(store: Store, anna: int, contact: tuple[int, int], name: str, address: str, **what: str) -> None:
    """One incoming email from a contact (its id and its client's), forwarded by Anna: ``subject``, ``text`` and
    ``day`` (``D HH:MM`` in March 2026)."""
    contact_id, client_id = contact
    day, clock = what["day"].split()
    hour, minute = (int(x) for x in clock.split(":"))
    key = f"<{hashlib.sha256(what['subject'].encode()).hexdigest()[:16]}@{address.split('@')[1]}>"
    message = MessageWrite(
        dedupe_key=key,
        message_id_header=key,
        subject=what["subject"],
        date=datetime(2026, 3, int(day), hour, minute, tzinfo=UTC),
        from_name=name,
        from_address=address,
        direction="incoming",
        kind="forward",
        submitter_user_id=anna,
        body_text=what["text"],
        body_html=None,
        note=None,
        raw_sha256=hashlib.sha256(key.encode()).hexdigest(),
        participants=(
            ParticipantWrite("from", address, name, False, "contact", contact_id, "address"),
            ParticipantWrite("to", EMAIL, "Anna Nowak", True, None, None, None),
        ),
        links=(
            LinkWrite("user", "submitter", entity_id=anna),
            LinkWrite("contact", "address", entity_id=contact_id),
            LinkWrite("client", "address", entity_id=client_id),
        ),
    )
    receipt = store.receipts.add_inbound(_raw(what["subject"], address), **ENVELOPE).id
    store.filing.apply_plan(receipt, PlanWrite(status="linked", reason=f"forwarded by {EMAIL}", message=message))


def _more_mail(store: Store) -> None:
    """A salesperson, a second client with a contact, replies from both contacts, and receipts ignored and failed."""
    store.directory.apply_users([UserRow(line=3, email=SALES_EMAIL, name=SALES_NAME, team="Sales", role="team")])
    assert store.auth.set_password_hash(SALES_EMAIL, hash_password(PASSWORD))
    store.directory.apply_clients([ClientRow(3, OTHER_CLIENT, domains=("nordwind.example",))])
    store.directory.apply_contacts([ContactRow(3, *OTHER_CONTACT[:1], (OTHER_CONTACT[1],), client=OTHER_CLIENT)])
    anna = store.directory.find_users_by_addresses([EMAIL])[EMAIL].id
    people = store.directory.find_people(["piotr@acme-logistics.pl", OTHER_CONTACT[1]]).contacts
    for address, name, subject, text, day in [
        ("piotr@acme-logistics.pl", "Piotr Wiśniewski", "Re: Fleet renewal offer", "Thanks, Anna.", "3 14:05"),
        (OTHER_CONTACT[1], OTHER_CONTACT[0], "Pallet pricing for Q2", "Could you send the new rates?", "4 08:40"),
    ]:
        contact = people[address]
        assert contact.client_id is not None
        _reply(store, anna, (contact.id, contact.client_id), name, address, subject=subject, text=text, day=day)
    ignored = store.receipts.add_inbound(_raw("Automatic reply: out of office", OTHER_CONTACT[1]), **ENVELOPE)
    store.filing.apply_plan(ignored.id, PlanWrite(status="ignored", reason="auto-reply"))
    failed = store.receipts.add_inbound(_raw("Invoice 2026/03/118", "billing@acme-logistics.pl"), **ENVELOPE)
    for _ in range(2):
        store.receipts.mark_attempt_failed(failed.id, "no text or HTML part could be decoded", max_attempts=2)
    store.receipts.add_inbound(_raw("Delivery schedule", OTHER_CONTACT[1]), **ENVELOPE)


def freeze_times(store: Store) -> None:
    """Set every time the store took from its clock to fixed ones, and renumber receipt ids in creation order.

    A message is filed two minutes after its ``Date``, its receipt received one minute after it; receipts of no
    message are received eight minutes apart, the last four minutes before ``FROZEN_NOW`` (the sweeper keeps up);
    everything else (accounts, directory rows, links) is ``SEEDED_AT``. A message's ``date`` and the indexes' and
    teams' dates come from the mail, so they stay.
    """
    kept = {
        (Message.__table__.name, "date"),
        (IndexCount.__table__.name, "last_at"),
        (TeamMail.__table__.name, "sent"),
        (TeamCount.__table__.name, "last_at"),
    }
    with store.engine.begin() as db:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, UTCDateTime) and (table.name, column.name) not in kept:
                    db.execute(update(table).where(column.is_not(None)).values({column.name: SEEDED_AT}))
        dates = dict(db.execute(select(Message.id, Message.date)).all())
        for message_id, date in dates.items():
            db.execute(update(Message).where(Message.id == message_id).values(created_at=date + timedelta(minutes=2)))
        receipts = db.execute(select(Inbound.id, Inbound.message_id, Inbound.processed_at).order_by(Inbound.id)).all()
        unfiled = sum(1 for _, message_id, _ in receipts if message_id is None)
        for n, (old_id, message_id, processed_at) in enumerate(receipts):
            if message_id is not None:
                received = dates[message_id] + timedelta(minutes=1)
            else:
                unfiled -= 1
                received = FROZEN_NOW - timedelta(minutes=4 + 8 * unfiled)
            processed = received if processed_at is not None else None
            db.execute(
                update(Inbound)
                .where(Inbound.id == old_id)
                .values(id=f"01JNSEED{n:010d}", received_at=received, updated_at=received, processed_at=processed)
            )


def screenshot_world(store: Store) -> World:
    """``seed``'s world with ``_more_mail`` added, its times frozen (``freeze_times``)."""
    world = seed(store)
    _more_mail(store)
    freeze_times(store)
    with store.engine.connect() as db:  # the offer's receipt was renumbered
        receipt = db.execute(select(Inbound.id).where(Inbound.message_id == world.offer)).scalar_one()
    return replace(world, receipt=receipt)
