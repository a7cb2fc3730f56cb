"""The message list: every filter, keyset pages, cursors, and a constant number of queries per page."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import pytest

from store import BadCursorError, LinkWrite, MessageFilter, Store, StoreError, Viewer
from tests.conftest import sql_statements
from tests.store.world import ADA, ANNA, JAN, PAWEL, World, day, file_message, person


def ids(store: Store, viewer: Viewer, **filters: Any) -> set[int]:
    return {row.id for row in store.queries.iter_messages(viewer, MessageFilter(**filters))}


# --- filters -----------------------------------------------------------------------------------------------------


def test_direction_kind_and_submitter(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    assert ids(store, ada, direction="incoming") == world.ids("client_direct", "beta", "eva_alias_anna", "twice")
    assert ids(store, ada, direction="outgoing") == world.ids("to_piotr", "deal", "cc_jan", "unmatched", "solo")
    assert ids(store, ada, kind="forward") == world.ids("beta")
    assert ids(store, ada, kind="redirect") == world.ids("client_direct", "eva_alias_anna", "twice")
    assert ids(store, ada, kind="nonsense") == set()
    # Paweł's second receipt makes him a submitter of "twice" too.
    assert ids(store, ada, submitter_id=world.users[PAWEL.email]) == world.ids("deal", "unmatched", "twice")
    assert ids(store, ada, submitter_id=world.users[JAN.email]) == world.ids("beta", "twice")


def test_date_range_is_from_inclusive_to_exclusive(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    assert ids(store, ada, date_from=day(4), date_to=day(6)) == world.ids("client_direct", "beta")
    assert ids(store, ada, date_to=day(2)) == world.ids("solo")
    # Without a Date header, the filing time counts: "unmatched" was filed just now.
    assert ids(store, ada, date_from=day(9)) == world.ids("unmatched")
    with pytest.raises(StoreError, match="timezone-aware"):
        store.queries.list_messages(ada, MessageFilter(date_from=datetime(2026, 3, 1)))


def test_a_client_timeline_includes_its_contacts_and_records_mail(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    assert ids(store, ada, client_id=world.acme) == world.ids("to_piotr", "deal", "client_direct")
    assert ids(store, ada, client_id=world.beta) == world.ids("beta", "twice")
    assert ids(store, ada, client_id=10_000) == set()


def test_contact_lead_and_record_timelines(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    assert ids(store, ada, contact_id=world.piotr) == world.ids("to_piotr")
    assert ids(store, ada, contact_id=world.karel) == world.ids("beta", "twice")
    assert ids(store, ada, lead_id=world.lead) == world.ids("cc_jan")
    assert ids(store, ada, record_id=world.deal) == world.ids("deal")
    assert ids(store, ada, record_id=world.warehouse) == world.ids("beta")


def test_unmatched_is_mail_filed_nowhere(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    assert ids(store, ada, unmatched=True) == world.ids("unmatched", "solo")
    assert ids(store, world.viewer(store, PAWEL.email), unmatched=True) == world.ids("unmatched")


def test_filters_combine(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    assert ids(store, ada, client_id=world.acme, kind="bcc") == world.ids("to_piotr", "deal")
    assert ids(store, ada, client_id=world.acme, q="fakture") == world.ids("client_direct")
    assert ids(store, ada, unmatched=True, client_id=world.acme) == set()


def test_rows_carry_submitter_and_chips(store: Store, world: World) -> None:
    anna = world.viewer(store, ANNA.email)
    (row,) = store.queries.list_messages(anna, MessageFilter(record_id=world.deal)).items
    assert (row.subject, row.date, row.submitter, row.from_address) == (
        "OP-123 harmonogram",
        day(3),
        "Paweł Kowalski",
        PAWEL.email,
    )
    assert [(c.type, c.label, c.reason) for c in row.links] == [
        ("record", "OP-123", "code"),
        ("user", "Paweł Kowalski", "submitter"),
    ]


# --- keyset pages ---------------------------------------------------------------------------------------------------


def walk(store: Store, viewer: Viewer, f: MessageFilter, limit: int) -> list[int]:
    seen: list[int] = []
    after: str | None = None
    while True:
        page = store.queries.list_messages(viewer, f, after=after, limit=limit)
        assert len(page.items) <= limit
        seen += [row.id for row in page.items]
        if page.next is None:
            return seen
        after = page.next


def test_pages_are_newest_first_without_gaps_or_duplicates(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    # Given several emails with the very same date, and one more without a date.
    same = [
        file_message(
            store, submitter=(ADA.email, world.users[ADA.email]), key=f"<same{i}@x>", subject="same", date=day(5)
        )
        for i in range(7)
    ]
    file_message(store, submitter=(ADA.email, world.users[ADA.email]), key="<nodate@x>", subject="x", date=None)
    full = [row for row in store.queries.list_messages(ada, MessageFilter(), limit=500).items]
    keys = [(row.date, row.id) for row in full]
    assert keys == sorted(keys, reverse=True)
    assert [row.id for row in full if row.date == day(5)] == sorted([*same, world.m["beta"]], reverse=True)

    for limit in (1, 2, 3, 5, len(full), len(full) + 1):
        assert walk(store, ada, MessageFilter(), limit) == [row.id for row in full]


def test_new_mail_between_pages_does_not_shift_them(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    everything = walk(store, ada, MessageFilter(), 500)
    first = store.queries.list_messages(ada, MessageFilter(), limit=3)

    file_message(store, submitter=(ADA.email, world.users[ADA.email]), key="<late@x>", subject="late", date=None)
    rest = walk_from(store, ada, first.next)

    assert [row.id for row in first.items] + rest == everything


def walk_from(store: Store, viewer: Viewer, after: str | None) -> list[int]:
    seen: list[int] = []
    while after is not None:
        page = store.queries.list_messages(viewer, MessageFilter(), after=after, limit=2)
        seen += [row.id for row in page.items]
        after = page.next
    return seen


def test_last_page_has_no_next(store: Store, world: World) -> None:
    pawel = world.viewer(store, PAWEL.email)
    page = store.queries.list_messages(pawel, MessageFilter(), limit=3)
    assert (len(page.items), page.next) == (3, None)
    empty = store.queries.list_messages(pawel, MessageFilter(kind="forward"))
    assert (empty.items, empty.next) == ((), None)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!",
        "AAAA",
        "x" * 500,
        "żółw",
        _b64("m|not a date|3"),
        _b64("m|2026-03-01T00:00:00|3"),  # naive
        _b64("m|2026-03-01T00:00:00+00:00|three"),
        _b64("m|2026-03-01T00:00:00+00:00"),
        _b64("l|2026-03-01T00:00:00+00:00|3"),  # a leads cursor
        _b64(f"m|2026-03-01T00:00:00+00:00|{2**63}"),  # past any integer column
    ],
)
def test_a_bad_cursor_is_refused(store: Store, world: World, cursor: str) -> None:
    with pytest.raises(BadCursorError):
        store.queries.list_messages(world.viewer(store, ADA.email), MessageFilter(), after=cursor)


def test_cursors_belong_to_their_list(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    messages = store.queries.list_messages(ada, MessageFilter(), limit=1).next
    assert messages is not None
    with pytest.raises(BadCursorError):
        store.queries.list_leads(ada, after=messages)
    assert issubclass(BadCursorError, StoreError)


def test_leads_page_newest_first(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    more = [f"lead{i}@gmail.com" for i in range(4)]
    file_message(
        store,
        submitter=(ADA.email, world.users[ADA.email]),
        key="<leads@x>",
        subject="leads",
        date=day(9),
        participants=tuple(person("to", a) for a in more),
        links=tuple(LinkWrite("lead", "new-lead", lead_address=a) for a in more),
        new_leads=tuple(__import__("store").LeadWrite(a, None, None, None) for a in more),
    )
    everything = store.queries.list_leads(ada, limit=500).items
    assert [lead.id for lead in everything] == sorted((lead.id for lead in everything), reverse=True)
    pages: list[int] = []
    after = None
    while True:
        page = store.queries.list_leads(ada, after=after, limit=2)
        pages += [lead.id for lead in page.items]
        if page.next is None:
            break
        after = page.next
    assert pages == [lead.id for lead in everything]
    assert len(pages) == 5


def test_search_finds_mail_by_its_participants(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    submitter = (PAWEL.email, world.users[PAWEL.email])
    # Given mail whose recipients appear nowhere else in it (not in the subject, body or sender)
    many = file_message(
        store,
        submitter=submitter,
        key="<search-participants@example.com>",
        subject="Quarterly figures",
        date=day(20),
        body="Please see the attached figures.",
        participants=(
            person("to", "zofia.lewandowska@kurier-polska.example", "Zofia Lewandowska"),
            person("cc", "rachunki@kurier-polska.example", None),
            person("cc", "bozena@zielony-ogrod.example", "Bożena Żurawska"),
        ),
    )
    alone = file_message(
        store,
        submitter=submitter,
        key="<search-no-participants@example.com>",
        subject="Nothing but a sender",
        date=day(21),
        body="A note with no participant rows at all.",
        sender=("ola@zielony-ogrod.example", "Ola Zielińska"),
    )
    # Then each participant finds it: by address (as a phrase), by name, diacritics folded, with other words
    assert ids(store, ada, q="zofia.lewandowska@kurier-polska.example") == {many}
    assert ids(store, ada, q="rachunki@kurier-polska.example") == {many}
    assert ids(store, ada, q="Zurawska") == {many}
    assert ids(store, ada, q="lewandowska figures") == {many}
    # And the sender is still indexed, with participants or without
    assert ids(store, ada, q="zielony-ogrod.example") == {many, alone}
    assert ids(store, ada, q="Zielinska") == {alone}
    assert ids(store, ada, q="kurier-polska.example zielinska") == set()


def test_search_finds_an_idn_address_as_people_write_it(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    # Given mail from and to addresses the store keeps in A-labels (żabka.test, łódź.test)
    filed = file_message(
        store,
        submitter=(PAWEL.email, world.users[PAWEL.email]),
        key="<search-idn@example.com>",
        subject="Dostawa",
        date=day(22),
        body="Dzień dobry.",
        sender=("biuro@xn--abka-99a.test", "Biuro"),
        participants=(person("to", "kasa@sklep.xn--d-uga0v4h.test", None),),
    )
    # Then the Unicode forms find it, whole or in part, in any case, as do the A-labels
    for q in ("żabka.test", "biuro@Żabka.test", "ŻABKA", "sklep.łódź.test", "kasa@sklep.łódź.test", "xn--abka-99a"):
        assert ids(store, ada, q=q) == {filed}, q
    assert ids(store, ada, q="żabka dostawa") == {filed}
    # And a word that only looks like a label finds nothing more, nor does one no IDNA takes
    assert ids(store, ada, q="żabki") == set()
    assert ids(store, ada, q="ż" * 70) == ids(store, ada, q="a☃b..ż") == set()


def test_iter_messages_streams_every_row_in_order(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    expected = [row.id for row in store.queries.list_messages(ada, MessageFilter(), limit=500).items]
    assert [row.id for row in store.queries.iter_messages(ada, MessageFilter(), batch=2)] == expected
    assert [row.id for row in store.queries.iter_messages(ada, MessageFilter(q="nothing-like-this"))] == []


# --- query counts ---------------------------------------------------------------------------------------------------


def fill(store: Store, world: World, n: int) -> None:
    """``n`` more emails from Anna to Piotr, each with a contact, a client and a record link."""
    for i in range(n):
        file_message(
            store,
            submitter=(ANNA.email, world.users[ANNA.email]),
            key=f"<bulk{i}@crm>",
            subject=f"bulk {i}",
            date=day(1) + timedelta(minutes=i),
            participants=(
                person("from", ANNA.email),
                person("to", "piotr@acme-logistics.pl", None, ("contact", world.piotr)),
            ),
            links=(
                LinkWrite("contact", "address", entity_id=world.piotr),
                LinkWrite("client", "address", entity_id=world.acme),
                LinkWrite("record", "code", entity_id=world.deal),
            ),
        )


def queries_for_a_page(store: Store, viewer: Viewer, f: MessageFilter) -> tuple[int, int]:
    with sql_statements(store) as statements:
        page = store.queries.list_messages(viewer, f, limit=300)
    return len(statements), len(page.items)


@pytest.mark.parametrize("email", [ADA.email, ANNA.email])
def test_a_page_costs_the_same_queries_for_5_or_200_rows(store: Store, world: World, email: str) -> None:
    viewer = world.viewer(store, email)
    f = MessageFilter(q="bulk", client_id=world.acme)
    fill(store, world, 5)
    small, rows_small = queries_for_a_page(store, viewer, f)
    fill_more = 195
    for i in range(fill_more):
        file_message(
            store,
            submitter=(ANNA.email, world.users[ANNA.email]),
            key=f"<more{i}@crm>",
            subject=f"bulk more {i}",
            date=day(2) + timedelta(minutes=i),
            participants=(person("from", ANNA.email),),
            links=(
                LinkWrite("contact", "address", entity_id=world.piotr),
                LinkWrite("lead", "address", entity_id=world.lead),
            ),
        )
    large, rows_large = queries_for_a_page(store, viewer, f)
    assert (rows_small, rows_large) == (5, 200)
    assert small == large == 3  # the page, its link chips, its receipts' sources: never one per row


def test_message_detail_costs_the_same_queries_whatever_its_size(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    crowd = tuple(person("cc", f"p{i}@example.net") for i in range(40))
    big = file_message(
        store,
        submitter=(ADA.email, world.users[ADA.email]),
        key="<crowd@x>",
        subject="crowd",
        date=day(9),
        participants=crowd,
        links=tuple(LinkWrite("contact", "address", entity_id=c) for c in (world.piotr, world.karel, world.wolf)),
    )
    with sql_statements(store) as small:
        assert store.queries.get_message(ada, world.m["solo"]) is not None
    with sql_statements(store) as large:
        got = store.queries.get_message(ada, big)
    assert got is not None and len(got.participants) == 40
    assert len(small) == len(large)
    with sql_statements(store) as missing:
        assert store.queries.get_message(ada, 10_000) is None
    assert len(missing) == 1
