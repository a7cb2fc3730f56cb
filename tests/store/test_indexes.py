"""Directory indexes: counts and last contact of visible mail only, search, sorts, keyset pages and bad cursors.

The data is ``build_world`` (``tests/store/world.py``); ``VISIBLE`` there says who sees which email.
"""

from __future__ import annotations

import pytest

from store import BadCursorError, Store
from store.cursors import encode_sort_cursor
from store.index_kinds import SORTS
from store.page_shapes import IndexRow
from store.shapes import ClientRow, ContactRow
from tests.store.world import ADA, ANNA, EVA, JAN, PAWEL, SOLO, VISIBLE, World, day

#: The mail of each entry, by message name: a client's own, its contacts' and its records'.
CLIENT_MAIL = {"acme": {"to_piotr", "deal", "client_direct"}, "beta": {"beta", "twice"}}
CONTACT_MAIL = {"piotr": {"to_piotr"}, "karel": {"beta", "twice"}, "wolf": {"eva_alias_anna"}}
RECORD_MAIL = {"deal": {"deal"}, "warehouse": {"beta"}}
#: When each message was sent (``build_world``); "unmatched" has no Date header.
SENT = {"to_piotr": 2, "deal": 3, "client_direct": 4, "beta": 5, "cc_jan": 6, "eva_alias_anna": 7, "twice": 8}


def everything(store: Store, world: World, email: str, index: str, **kw: object) -> list[IndexRow]:
    """Every entry of an index, walked one row a page through the cursors."""
    viewer = world.viewer(store, email)
    rows: list[IndexRow] = []
    after = None
    while True:
        page = store.queries.list_index(viewer, index, after=after, limit=1, **kw)  # type: ignore[arg-type]
        rows += page.items
        if page.next is None:
            return rows
        after = page.next


@pytest.mark.parametrize("email", [ADA.email, ANNA.email, PAWEL.email, JAN.email, EVA.email, SOLO.email])
def test_counts_and_last_contact_cover_only_visible_mail(store: Store, world: World, email: str) -> None:
    seen = VISIBLE[email]
    expected = {
        "clients": {world.acme: CLIENT_MAIL["acme"], world.beta: CLIENT_MAIL["beta"]},
        "contacts": {
            world.piotr: CONTACT_MAIL["piotr"],
            world.karel: CONTACT_MAIL["karel"],
            world.wolf: CONTACT_MAIL["wolf"],
        },
        "records": {world.deal: RECORD_MAIL["deal"], world.warehouse: RECORD_MAIL["warehouse"]},
    }
    for index, mail in expected.items():
        page = store.queries.list_index(world.viewer(store, email), index, sort="name")
        got = {row.id: (row.messages, row.last) for row in page.items}
        for entity_id, names in mail.items():
            visible = names & seen
            last = day(max(SENT[n] for n in visible)) if visible else None
            assert got[entity_id] == (len(visible), last), (index, entity_id, email)


def test_users_count_what_each_submitted(store: Store, world: World) -> None:
    page = store.queries.list_index(world.viewer(store, ADA.email), "users", sort="count")
    counts = {row.note: row.messages for row in page.items}
    # Anna submitted three; Paweł two and the second receipt of "twice"; Jan "beta" and "twice"
    assert counts[ANNA.email] == 3 and counts[PAWEL.email] == 3 and counts[JAN.email] == 2
    assert counts[ADA.email] == 0
    assert [row.messages for row in page.items] == sorted((row.messages for row in page.items), reverse=True)


@pytest.mark.parametrize("index", ["clients", "contacts", "leads", "records", "users"])
def test_every_sort_pages_through_every_entry_once_in_order(store: Store, world: World, index: str) -> None:
    for sort in SORTS[index]:
        one_page = store.queries.list_index(world.viewer(store, ADA.email), index, sort=sort, limit=200).items
        walked = everything(store, world, ADA.email, index, sort=sort)
        assert [r.id for r in walked] == [r.id for r in one_page], sort
        assert len({r.id for r in walked}) == len(walked)
        if sort == "count":
            assert [r.messages for r in walked] == sorted((r.messages for r in walked), reverse=True)
        if sort == "last":
            dated = [r.last for r in walked if r.last is not None]
            assert dated == sorted(dated, reverse=True)
            assert all(r.last is None for r in walked[len(dated) :])  # no mail: last
        if sort == "name":
            assert [r.label for r in walked] == sorted(r.label for r in walked)


def test_sorted_by_count_a_viewer_sees_its_own_order(store: Store, world: World) -> None:
    # Ada sees Acme's three emails and Beta's two; Jan none of Acme's
    ada = store.queries.list_index(world.viewer(store, ADA.email), "clients", sort="count").items
    jan = store.queries.list_index(world.viewer(store, JAN.email), "clients", sort="count").items
    assert [(r.id, r.messages) for r in ada] == [(world.acme, 3), (world.beta, 2)]
    assert [(r.id, r.messages) for r in jan] == [(world.beta, 2), (world.acme, 0)]


def test_search_by_name_address_domain_and_code_ignores_case(store: Store, world: World) -> None:
    viewer = world.viewer(store, ADA.email)

    def found(index: str, q: str) -> set[int]:
        return {r.id for r in store.queries.list_index(viewer, index, q=q, sort="name").items}

    assert found("clients", "ACME") == {world.acme}
    assert found("clients", "Biuro@Acme-Logistics.pl") == {world.acme}
    assert found("clients", "beta.cz") == {world.beta}
    assert found("contacts", "karel@") == {world.karel}
    assert found("contacts", "wiśniewski") == {world.piotr}
    assert found("records", "op-123") == {world.deal}
    assert found("records", "warehouse") == {world.warehouse}
    assert found("leads", "gmail.com") == {world.lead}
    assert found("users", "crm.example.com") == set(world.users.values())
    # LIKE's wildcards are text to find, not patterns
    assert found("clients", "%") == set() and found("clients", "_") == set()
    assert found("clients", "nothing like it") == set()


def test_search_finds_an_idn_domain_as_people_write_it(store: Store, world: World) -> None:
    # Given a client and a contact the import keeps in A-labels (žluťák.cz)
    store.directory.apply_clients([ClientRow(4, "Žluťák a.s.", domains=("xn--luk-fla37dte.cz",))])
    store.directory.apply_contacts([ContactRow(2, "Jiří Král", ("jiri@xn--luk-fla37dte.cz",))])
    viewer = world.viewer(store, ADA.email)

    def found(index: str, q: str) -> set[str]:
        return {r.label for r in store.queries.list_index(viewer, index, q=q, sort="name").items}

    # Then the Unicode form finds them, whole, in part or in another case
    for q in ("žluťák.cz", "ŽLUŤÁK", "xn--luk-fla37dte.cz"):
        assert found("clients", q) == {"Žluťák a.s."}, q
    assert found("contacts", "jiri@žluťák.cz") == {"Jiří Král"}


def test_a_lead_index_shows_only_leads_the_viewer_may_see(store: Store, world: World) -> None:
    # The lead came from Anna's mail with Jan in Cc: Paweł sees neither it nor its mail
    assert store.queries.list_index(world.viewer(store, PAWEL.email), "leads", sort="count").items == ()
    (jan,) = store.queries.list_index(world.viewer(store, JAN.email), "leads", sort="count").items
    assert (jan.id, jan.messages, jan.first_message_id) == (world.lead, 1, world.m["cc_jan"])


def test_bad_cursors_are_refused(store: Store, world: World) -> None:
    viewer = world.viewer(store, ADA.email)
    page = store.queries.list_index(viewer, "clients", sort="name", limit=1)
    assert page.next is not None
    forged = [
        "not a cursor!",
        "x" * 5000,
        encode_sort_cursor("clients:count", 3, 1),  # another sort's
        encode_sort_cursor("contacts:name", "A", 1),  # another index's
        encode_sort_cursor("clients:name", 3, 1),  # a count where a name belongs
        encode_sort_cursor("clients:name", "A", 2**31),  # an id no row has
    ]
    for cursor in forged:
        with pytest.raises(BadCursorError):
            store.queries.list_index(viewer, "clients", sort="name", after=cursor)
    with pytest.raises(BadCursorError):
        store.queries.list_index(viewer, "clients", sort="count", after=page.next)
