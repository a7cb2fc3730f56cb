"""Re-linking after a contact import: leads whose address a contact now owns are converted, their mail re-filed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import CodeWrite, LeadWrite, LinkWrite, MessageWrite, ParticipantWrite, PlanWrite, RelinkResult, Store
from store.models import Lead, Link, MessageCode, Participant
from store.shapes import ClientRow, ContactRow, RecordRow, RelinkScope, UserRow
from tests.conftest import sql_statements

ANNA = UserRow(line=2, email="anna@crm.example.com", name="Anna Nowak", team=None, role="all")
ACME = ClientRow(line=2, name="Acme Logistics", domains=("acme-logistics.pl",))
NOWAK = "nowak@gmail.com"


def email(
    store: Store,
    key: str,
    *,
    to: str,
    lead: str | None = None,
    links: tuple[LinkWrite, ...] = (),
    status: str = "linked",
    codes: tuple[str, ...] = (),
) -> int:
    """File one BCC from Anna to ``to``; with ``lead``, ``to`` becomes (or is) that lead's address."""
    anna = store.directory.find_users_by_addresses([ANNA.email])[ANNA.email].id
    existing = store.directory.find_people([to]).leads.get(to)
    match = ("lead", existing.id, "lead") if existing else (None, None, None)
    lead_links: tuple[LinkWrite, ...] = ()
    new_leads: tuple[LeadWrite, ...] = ()
    if lead and existing:
        lead_links = (LinkWrite("lead", "address", entity_id=existing.id),)
    elif lead:
        lead_links = (LinkWrite("lead", "new-lead", lead_address=to),)
        new_leads = (LeadWrite(to, lead, None, anna),)
    message = MessageWrite(
        dedupe_key=key,
        message_id_header=key,
        subject="hello",
        date=None,
        from_name=None,
        from_address=ANNA.email,
        direction="outgoing",
        kind="bcc",
        submitter_user_id=anna,
        body_text="hi",
        body_html=None,
        note=None,
        raw_sha256="b" * 64,
        participants=(
            ParticipantWrite("from", ANNA.email, None, True, "user", anna, "user"),
            ParticipantWrite("to", to, None, False, *match),
        ),
        links=links + lead_links,
        new_leads=new_leads,
        codes=tuple(CodeWrite(code, None) for code in codes),
    )
    receipt = store.receipts.add_inbound(key.encode(), mail_from=ANNA.email, rcpt_tos=["assistant@crm.example.com"]).id
    result = store.filing.apply_plan(receipt, PlanWrite(status=status, reason=None, message=message))
    assert result.message_id is not None
    return result.message_id


def relink(store: Store) -> RelinkResult:
    return store.filing.relink(free_mail_domains=("gmail.com",))


def links(store: Store, *, reason: str | None = None) -> set[tuple[int, str, int]]:
    stmt = select(Link.message_id, Link.entity_type, Link.entity_id)
    if reason is not None:
        stmt = stmt.where(Link.reason == reason)
    with Session(store.engine) as session:
        return {(m, t, e) for m, t, e in session.execute(stmt)}


def contact_id(store: Store, address: str) -> tuple[int, int | None]:
    ref = store.directory.find_people([address]).contacts[address]
    return ref.id, ref.client_id


def test_a_lead_that_became_a_contact_has_its_mail_refiled(store: Store) -> None:
    store.directory.apply_users([ANNA])
    store.directory.apply_clients([ACME])
    acme = store.directory.find_people(["someone@acme-logistics.pl"]).client_domains["acme-logistics.pl"].id
    # Given mail to an unknown address: it made a lead, was linked to it again, and once only mentioned it
    first = email(store, "<1@x>", to=NOWAK, lead="Jan Nowak", links=(LinkWrite("client", "code", entity_id=acme),))
    second = email(store, "<2@x>", to=NOWAK, lead="Jan Nowak")
    (lead,) = store.directory.find_people([NOWAK]).leads.values()
    third = email(store, "<3@x>", to="someone@else.test")
    with Session(store.engine) as session, session.begin():
        # The third message has the address only as a participant, with no link to the lead.
        session.add(Participant(message_id=third, role="cc", address=NOWAK, internal=False))
    other = email(store, "<4@x>", to="other@gmail.com", lead="Other")
    before = links(store)

    # When an import makes the address a contact of Acme, and we re-link
    store.directory.apply_contacts([ContactRow(line=2, name="Jan Nowak", emails=(NOWAK,), client=ACME.name)])
    contact, client = contact_id(store, NOWAK)
    assert client == acme
    result = relink(store)

    # Then the lead is converted (and kept), and its three messages are filed under the contact and its client
    expected = {(m, "contact", contact) for m in (first, second, third)} | {
        (m, "client", acme) for m in (second, third)
    }
    assert result == RelinkResult(leads_converted=1, contact_links=3, client_links=2)
    assert links(store) == before | expected
    assert links(store, reason="address") >= expected
    refreshed = store.directory.find_people([NOWAK, "other@gmail.com"]).leads
    assert refreshed[NOWAK].id == lead.id
    assert refreshed[NOWAK].converted_contact_id == contact
    assert refreshed["other@gmail.com"].converted_contact_id is None
    assert not {link for link in links(store) if link[0] == other} - before
    with Session(store.engine) as session:
        converted_at = session.scalar(select(Lead.converted_at).where(Lead.id == lead.id))
        matches = set(
            session.execute(
                select(Participant.match_type, Participant.match_id, Participant.match_via).where(
                    Participant.address == NOWAK
                )
            )
        )
    assert converted_at is not None
    assert matches == {("contact", contact, "contact")}

    # And a second run finds nothing to do
    assert relink(store) == RelinkResult()
    assert links(store) == before | expected


def test_a_contact_without_client_gets_only_contact_links(store: Store) -> None:
    store.directory.apply_users([ANNA])
    message = email(store, "<1@x>", to=NOWAK, lead="Jan Nowak")
    store.directory.apply_contacts([ContactRow(line=2, name="Jan Nowak", emails=("jan@work.test", NOWAK))])
    contact, _ = contact_id(store, NOWAK)

    assert relink(store) == RelinkResult(leads_converted=1, contact_links=1)
    assert (message, "contact", contact) in links(store)
    assert {t for _, t, _ in links(store)} == {"lead", "contact"}


def test_nothing_to_relink_without_matching_leads(store: Store) -> None:
    store.directory.apply_users([ANNA])
    email(store, "<1@x>", to=NOWAK, lead="Jan Nowak")
    store.directory.apply_contacts([ContactRow(line=2, name="Someone", emails=("someone@else.test",))])

    assert relink(store) == RelinkResult()


def test_relink_costs_the_same_queries_for_few_or_many_messages(store: Store) -> None:
    store.directory.apply_users([ANNA])
    store.directory.apply_clients([ACME])

    def relink_once(address: str, messages: int) -> list[str]:
        for i in range(messages):
            email(store, f"<{address}-{i}@x>", to=address, lead="Lead")
        store.directory.apply_contacts([ContactRow(line=2, name=address, emails=(address,), client=ACME.name)])
        with sql_statements(store) as seen:
            result = relink(store)
        assert result == RelinkResult(leads_converted=1, contact_links=messages, client_links=messages)
        return seen

    few = relink_once("few@gmail.com", 2)
    many = relink_once("many@gmail.com", 25)
    assert len(few) == len(many)


def participant_matches(store: Store, address: str) -> dict[int, tuple[str | None, int | None, str | None]]:
    """Message id → the match of its participant row for ``address``."""
    stmt = select(Participant.message_id, Participant.match_type, Participant.match_id, Participant.match_via)
    with Session(store.engine) as session:
        return {m: (t, i, v) for m, t, i, v in session.execute(stmt.where(Participant.address == address))}


BILLING = "faktury@hurtownia-lodz.pl"


def test_unmatched_history_of_a_new_contact_is_filed_under_it(store: Store) -> None:
    store.directory.apply_users([ANNA])
    store.directory.apply_clients([ACME])
    acme = store.directory.find_people(["someone@acme-logistics.pl"]).client_domains["acme-logistics.pl"].id
    # Given filed mail where an address matched nothing and made no lead (an ignore rule's, say), twice
    first = email(store, "<1@x>", to=BILLING)
    second = email(store, "<2@x>", to="biuro@hurtownia-lodz.pl")
    with Session(store.engine) as session, session.begin():
        session.add(Participant(message_id=second, role="cc", address=BILLING, internal=False))
    # And mail where it did match (the client's domain, then), and a receipt that ended ignored
    matched = email(store, "<3@x>", to="someone@else.test")
    with Session(store.engine) as session, session.begin():
        session.add(
            Participant(
                message_id=matched,
                role="cc",
                address=BILLING,
                internal=False,
                match_type="client",
                match_id=acme,
                match_via="client-domain",
            )
        )
    ignored = email(store, "<4@x>", to=BILLING, status="ignored")
    before = links(store)

    # When an import makes the address a contact of Acme, and we re-link
    store.directory.apply_contacts([ContactRow(line=2, name="Dział faktur", emails=(BILLING,), client=ACME.name)])
    contact, client = contact_id(store, BILLING)
    assert client == acme
    result = relink(store)

    # Then the two filed messages are linked to the contact and its client, for the address
    expected = {(m, kind, entity) for m in (first, second) for kind, entity in (("contact", contact), ("client", acme))}
    assert result == RelinkResult(participants_matched=2, contact_links=2, client_links=2)
    assert links(store) == before | expected
    assert links(store, reason="address") == expected
    # And their participant rows now match the contact; the matched and the ignored ones are left as they were
    assert participant_matches(store, BILLING) == {
        first: ("contact", contact, "contact"),
        second: ("contact", contact, "contact"),
        matched: ("client", acme, "client-domain"),
        ignored: (None, None, None),
    }
    assert store.directory.find_people([BILLING]).leads == {}

    # And a second run finds nothing to do
    assert relink(store) == RelinkResult()
    assert links(store) == before | expected


def test_internal_participants_are_never_filed_under_a_contact(store: Store) -> None:
    store.directory.apply_users([ANNA])
    message = email(store, "<1@x>", to="someone@else.test")
    with Session(store.engine) as session, session.begin():
        session.add(Participant(message_id=message, role="cc", address="team@crm.example.com", internal=True))
    store.directory.apply_contacts([ContactRow(line=2, name="Team", emails=("team@crm.example.com",))])

    assert relink(store) == RelinkResult()
    assert participant_matches(store, "team@crm.example.com") == {message: (None, None, None)}


def test_relinking_leads_and_unmatched_history_twice_changes_nothing_the_second_time(store: Store) -> None:
    store.directory.apply_users([ANNA])
    store.directory.apply_clients([ACME])
    # Given a lead's mail and unmatched history, for two addresses one import makes contacts
    lead_mail = email(store, "<1@x>", to=NOWAK, lead="Jan Nowak")
    history = email(store, "<2@x>", to=BILLING)
    store.directory.apply_contacts(
        [
            ContactRow(line=2, name="Jan Nowak", emails=(NOWAK,), client=ACME.name),
            ContactRow(line=3, name="Dział faktur", emails=(BILLING,)),
        ]
    )
    nowak, acme = contact_id(store, NOWAK)
    billing, _ = contact_id(store, BILLING)

    # When we re-link twice
    first = relink(store)
    after_first = (links(store), participant_matches(store, NOWAK), participant_matches(store, BILLING))
    second = relink(store)

    # Then the first run converts the lead and files both, and the second changes nothing
    assert first == RelinkResult(leads_converted=1, participants_matched=1, contact_links=2, client_links=1)
    assert {(lead_mail, "contact", nowak), (lead_mail, "client", acme), (history, "contact", billing)} <= links(store)
    assert second == RelinkResult()
    assert (links(store), participant_matches(store, NOWAK), participant_matches(store, BILLING)) == after_first
    assert after_first[2] == {history: ("contact", billing, "contact")}


# --- codes filed late, client addresses and domains, scopes and batches -----------------------------------------


def code_rows(store: Store) -> dict[tuple[int, str], int | None]:
    with Session(store.engine) as session:
        return {
            (m, c): r
            for m, c, r in session.execute(select(MessageCode.message_id, MessageCode.code, MessageCode.record_id))
        }


def record_id(store: Store, code: str) -> int:
    return store.directory.find_records_by_codes([code])[code].id


def test_codes_filed_before_their_record_are_resolved_in_batches(store: Store) -> None:
    store.directory.apply_users([ANNA])
    # Given five filed messages naming OP-1 before it was imported, one naming OP-2, and an ignored one naming OP-1
    early = [email(store, f"<{i}@x>", to="someone@else.test", codes=("OP-1",)) for i in range(5)]
    other = email(store, "<other@x>", to="someone@else.test", codes=("OP-2", "ZZ-9"))
    ignored = email(store, "<ignored@x>", to="someone@else.test", codes=("OP-1",), status="ignored")
    # When OP-1 and OP-2 are imported, and the history relinked two rows at a time
    store.directory.apply_records(
        [RecordRow(line=2, code="OP-1", type="deal", title="Fleet"), RecordRow(3, "OP-2", "deal", "X")]
    )
    op1, op2 = record_id(store, "OP-1"), record_id(store, "OP-2")
    ticks: list[int] = []
    total = store.filing.count_relink()
    result = store.filing.relink(free_mail_domains=(), batch=2, progress=ticks.append)

    # Then every filed message is linked to its record, reason "code", and its code resolved
    assert result == RelinkResult(codes_resolved=6, record_links=6)
    assert links(store, reason="code") == {(m, "record", op1) for m in early} | {(other, "record", op2)}
    rows = code_rows(store)
    assert [rows[(m, "OP-1")] for m in early] == [op1] * 5
    assert (rows[(other, "OP-2")], rows[(other, "ZZ-9")]) == (op2, None)
    # And mail that was never filed stays as it was
    assert rows[(ignored, "OP-1")] is None
    # And the progress bar saw every candidate, in batches of two
    assert total == 6 + 6  # six codes, and the unmatched participant of each of the six filed messages
    assert ticks == [2, 2, 2, 0] * 2

    # And a second run finds nothing to do
    assert store.filing.relink(free_mail_domains=(), batch=2) == RelinkResult()
    assert store.filing.count_relink() == 6  # the unmatched participants, still looked at


def test_a_scope_relinks_only_what_the_import_changed(store: Store) -> None:
    store.directory.apply_users([ANNA])
    first = email(store, "<1@x>", to="a@acme-logistics.pl", codes=("OP-1",))
    second = email(store, "<2@x>", to="b@other.test", codes=("OP-2",))
    store.directory.apply_records([RecordRow(2, "OP-1", "deal", "One"), RecordRow(3, "OP-2", "deal", "Two")])
    store.directory.apply_clients([ACME])
    acme = store.directory.find_people(["someone@acme-logistics.pl"]).client_domains["acme-logistics.pl"].id

    # When only OP-1 is in scope: OP-2 and the client's domain wait
    assert store.filing.count_relink(RelinkScope(codes=("OP-1",))) == 1
    assert store.filing.relink(RelinkScope(codes=("OP-1",)), free_mail_domains=()) == RelinkResult(
        codes_resolved=1, record_links=1
    )
    assert links(store, reason="code") == {(first, "record", record_id(store, "OP-1"))}
    # When the client's domain is in scope: its participant now matches it, reason "domain"
    scope = RelinkScope(domains=("acme-logistics.pl",))
    assert store.filing.relink(scope, free_mail_domains=()) == RelinkResult(participants_matched=1, client_links=1)
    assert links(store, reason="domain") == {(first, "client", acme)}
    assert participant_matches(store, "a@acme-logistics.pl") == {first: ("client", acme, "client-domain")}
    # And the rest comes with a whole relink
    assert store.filing.relink(free_mail_domains=()) == RelinkResult(codes_resolved=1, record_links=1)
    assert (second, "record", record_id(store, "OP-2")) in links(store)


def test_unmatched_participants_match_client_addresses_and_domains_never_free_mail(store: Store) -> None:
    store.directory.apply_users([ANNA])
    by_email = email(store, "<1@x>", to="biuro@gmail.com")
    by_domain = email(store, "<2@x>", to="jan@hurtownia-lodz.pl")
    free = email(store, "<3@x>", to="someone@gmail.com")
    store.directory.apply_clients(
        [ClientRow(line=2, name="Hurtownia", domains=("hurtownia-lodz.pl", "gmail.com"), emails=("biuro@gmail.com",))]
    )
    client = store.directory.find_people(["someone@hurtownia-lodz.pl"]).client_domains["hurtownia-lodz.pl"].id

    result = relink(store)

    assert result == RelinkResult(participants_matched=2, client_links=2)
    assert {(m, t, e) for m, t, e in links(store) if t == "client"} == {
        (by_email, "client", client),
        (by_domain, "client", client),
    }
    assert links(store, reason="domain") == {(by_domain, "client", client)}
    assert participant_matches(store, "biuro@gmail.com") == {by_email: ("client", client, "client-email")}
    assert participant_matches(store, "someone@gmail.com") == {free: (None, None, None)}
    assert relink(store) == RelinkResult()


def test_an_address_that_is_a_lead_is_not_filed_by_its_domain(store: Store) -> None:
    store.directory.apply_users([ANNA])
    # Given unmatched history of an address that became a lead later (the lead's own mail is linked to it)
    history = email(store, "<1@x>", to="jan@hurtownia-lodz.pl")
    email(store, "<2@x>", to="jan@hurtownia-lodz.pl", lead="Jan")
    store.directory.apply_clients([ClientRow(line=2, name="Hurtownia", domains=("hurtownia-lodz.pl",))])

    # Then the linker would file it on the lead, not the client's domain: relink leaves it
    assert relink(store) == RelinkResult()
    assert participant_matches(store, "jan@hurtownia-lodz.pl")[history] == (None, None, None)
