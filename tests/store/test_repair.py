"""Repairing what older versions stored (``store.repair``): encoded names, and IDN addresses in Unicode."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from linker.addresses import normalize_address, normalize_domain
from linker.encoded_words import decode_encoded_words
from store import LeadWrite, LinkWrite, MessageFilter, MessageWrite, ParticipantWrite, PlanWrite, Store
from store.models import ClientDomain, Contact, ContactEmail, Lead, Message, Participant
from store.shapes import ClientRow, ContactRow, UserRow

ANNA = UserRow(line=2, email="anna@crm.example.com", name="Anna Nowak", team=None, role="all")
ZABKA = "xn--abka-99a.test"


def file_old_message(store: Store) -> int:
    """Mail as an older version filed it: an undecoded name, the sender in Unicode, a lead made for a contact
    whose address the import kept in Unicode."""
    anna = store.directory.find_users_by_addresses([ANNA.email])[ANNA.email].id
    zofia = f"zofia@{ZABKA}"
    message = MessageWrite(
        dedupe_key="mid:old-1",
        message_id_header="old-1@xn--abka-99a.test",
        subject="=?utf-8?q?Zam=C3=B3wienie?= OP-517",
        date=None,
        from_name="Jan =?utf-8?q?Nov=C3=A1k?=",
        from_address="jan@żabka.test",
        direction="incoming",
        kind="redirect",
        submitter_user_id=anna,
        body_text="Dzień dobry",
        body_html=None,
        note=None,
        raw_sha256="c" * 64,
        participants=(
            ParticipantWrite("from", f"jan@{ZABKA}", "Jan =?utf-8?q?Nov=C3=A1k?=", False, "client", 1, "client"),
            ParticipantWrite("to", zofia, "Zofia =?utf-8?q?Wi=C5=9Bniewska?=", False, None, None, None),
            ParticipantWrite("cc", ANNA.email, "Anna Nowak", True, "user", anna, "user"),
        ),
        links=(LinkWrite("lead", "new-lead", lead_address=zofia),),
        new_leads=(LeadWrite(zofia, "Zofia =?utf-8?q?Wi=C5=9Bniewska?=", "Żabka", anna),),
    )
    receipt = store.receipts.add_inbound(
        b"raw", mail_from="jan@xn--abka-99a.test", rcpt_tos=["assistant@crm.example.com"]
    ).id
    result = store.filing.apply_plan(receipt, PlanWrite(status="linked", reason=None, message=message))
    assert result.message_id is not None
    return result.message_id


def test_names_and_idn_addresses_are_repaired_and_duplicate_leads_converted(store: Store) -> None:
    # Given a directory imported in Unicode and mail filed before names and domains had one form
    store.directory.apply_users([ANNA])
    store.directory.apply_clients([ClientRow(line=2, name="Żabka", domains=("żabka.test",))])
    store.directory.apply_contacts(
        [ContactRow(line=2, name="Zofia Wiśniewska", emails=("zofia@żabka.test",), client="Żabka")]
    )
    message_id = file_old_message(store)

    # When the repair runs, then the relink
    decoded = store.filing.repair_names(decode_encoded_words)
    result = store.filing.repair_addresses(normalize_address, normalize_domain)
    relinked = store.filing.relink(free_mail_domains=())

    # Then names are decoded, addresses and domains are in A-label form, and the duplicate lead is converted
    assert decoded == 5  # two participants, the lead, the sender's name, the subject
    assert result.changed == 3 and result.taken == []  # the sender, the contact's address, the client's domain
    with Session(store.engine) as session:
        message = session.get(Message, message_id)
        assert message is not None
        assert (message.from_name, message.from_address) == ("Jan Novák", f"jan@{ZABKA}")
        assert message.subject == "Zamówienie OP-517"
        names = session.scalars(select(Participant.name).order_by(Participant.id)).all()
        assert names == ["Jan Novák", "Zofia Wiśniewska", "Anna Nowak"]
        assert session.scalars(select(ContactEmail.address)).all() == [f"zofia@{ZABKA}"]
        assert session.scalars(select(ClientDomain.domain)).all() == [ZABKA]
        lead = session.scalars(select(Lead)).one()
        assert lead.name == "Zofia Wiśniewska" and lead.converted_contact_id is not None
    assert relinked.leads_converted == 1
    assert store.directory.find_people([f"someone@{d}" for d in [ZABKA]]).client_domains
    assert store.directory.find_people([f"zofia@{ZABKA}"]).contacts

    # And a second run finds nothing to do
    assert store.filing.repair_names(decode_encoded_words) == 0
    assert store.filing.repair_addresses(normalize_address, normalize_domain).changed == 0


def test_an_address_whose_matching_form_is_taken_is_left_and_listed(store: Store) -> None:
    # Given the same person imported twice, once in each form, as two contacts
    store.directory.apply_contacts(
        [
            ContactRow(line=2, name="Ola", emails=("ola@żabka.test",)),
            ContactRow(line=3, name="Ola W.", emails=(f"ola@{ZABKA}",)),
        ]
    )

    result = store.filing.repair_addresses(normalize_address, normalize_domain)

    assert result.changed == 0
    assert result.taken == [f"contact_emails.address: ola@żabka.test -> ola@{ZABKA}"]
    with Session(store.engine) as session:
        assert sorted(session.scalars(select(ContactEmail.address))) == [f"ola@{ZABKA}", "ola@żabka.test"]
        assert len(session.scalars(select(Contact.id)).all()) == 2


def test_search_finds_the_repaired_names_and_subject(store: Store) -> None:
    # Given mail filed with undecoded names and subject: search does not find the words as they read
    store.directory.apply_users([ANNA])
    message_id = file_old_message(store)
    admin = store.queries.get_viewer(store.directory.find_users_by_addresses([ANNA.email])[ANNA.email].id)
    assert admin is not None

    def found(q: str) -> set[int]:
        return {row.id for row in store.queries.list_messages(admin, MessageFilter(q=q)).items}

    assert found("Zamówienie") == found("Wiśniewska") == set()

    # When names are repaired
    store.filing.repair_names(decode_encoded_words)

    # Then the decoded subject, sender's and participant's names find it, as do the words that were there before
    assert found("Zamówienie") == found("Novák") == found("Wiśniewska") == found("Dzień dobry") == {message_id}
    assert found("utf-8") == set()
