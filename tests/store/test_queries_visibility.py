"""The read side for the web viewer: what each role may list, and filters within that."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from store import MessageFilter, Store, Viewer
from store.models import Message, MessageCode
from store.visibility import SENT, visible, visible_each, visible_mail
from tests.store.world import ADA, ANNA, EVA, JAN, PAWEL, SOLO, VISIBLE, World, listed


@pytest.mark.parametrize("email", list(VISIBLE))
def test_each_role_lists_exactly_what_it_may_see(store: Store, world: World, email: str) -> None:
    assert listed(store, world.viewer(store, email)) == world.ids(*VISIBLE[email])


@pytest.mark.parametrize("email", list(VISIBLE))
def test_guessed_ids_of_invisible_messages_read_as_missing(store: Store, world: World, email: str) -> None:
    viewer = world.viewer(store, email)
    guesses = range(-1, max(world.m.values()) + 5)

    found = {i for i in guesses if store.queries.get_message(viewer, i) is not None}

    assert found == world.ids(*VISIBLE[email])


@pytest.mark.parametrize("email", [*VISIBLE, "stranger"])
def test_the_three_forms_of_visibility_agree(store: Store, world: World, email: str) -> None:
    # ``visible`` (ids listed first), ``visible_each`` (checked per message) and ``visible_mail`` (a CTE with dates)
    viewer = world.viewer(store, ADA.email if email == "stranger" else email)
    if email == "stranger":
        viewer = dataclasses.replace(viewer, role="superuser")
    mail = visible_mail(viewer)
    with store.engine.connect() as conn:
        listed_first = set(conn.scalars(select(Message.id).where(visible(viewer))))
        each = set(conn.scalars(select(Message.id).where(visible_each(viewer))))
        dated = {} if mail is None else {i: at for i, at in conn.execute(select(mail.c.id, mail.c.sent))}
        sent = {i: at for i, at in conn.execute(select(Message.id, SENT).where(Message.id.in_(listed_first)))}
    assert each == listed_first
    assert email == "stranger" or listed_first == world.ids(*VISIBLE[email])
    if viewer.role != "all":
        assert dated == sent


def test_viewer_carries_role_team_and_own_addresses(store: Store, world: World) -> None:
    anna = world.viewer(store, ANNA.email)
    assert (anna.role, anna.addresses) == ("team", (ANNA.aliases[0], ANNA.email))
    assert anna.team_id is not None and anna.team_id == world.viewer(store, PAWEL.email).team_id
    assert world.viewer(store, SOLO.email).team_id is None
    assert store.queries.get_viewer(10_000) is None


def test_an_unknown_role_sees_nothing(store: Store, world: World) -> None:
    ada = world.viewer(store, ADA.email)
    stranger = dataclasses.replace(ada, role="superuser")
    assert listed(store, stranger) == set()
    assert store.queries.get_message(stranger, world.m["to_piotr"]) is None
    assert store.queries.dashboard(stranger, datetime.now(UTC)).messages_7d["bcc"] == 0


def test_own_addresses_come_from_the_viewer(store: Store, world: World) -> None:
    # Given Paweł's viewer with Jan's address added: Anna's mail with Jan in Cc becomes visible to it.
    pawel = world.viewer(store, PAWEL.email)
    widened = Viewer(pawel.user_id, "own", pawel.team_id, (*pawel.addresses, JAN.email))
    assert listed(store, widened) == world.ids(*VISIBLE[PAWEL.email], "cc_jan", "beta", "twice")


def test_filters_narrow_within_visibility(store: Store, world: World) -> None:
    eva, jan = world.viewer(store, EVA.email), world.viewer(store, JAN.email)
    assert listed(store, eva, MessageFilter(client_id=world.beta)) == world.ids("beta", "twice")
    assert listed(store, jan, MessageFilter(client_id=world.acme)) == set()
    assert listed(store, jan, MessageFilter(q="Zapytanie")) == world.ids("cc_jan")
    assert listed(store, jan, MessageFilter(q="flotowa")) == set()


def _all_pages(store: Store, viewer: Viewer, limit: int) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        page = store.queries.list_messages(viewer, MessageFilter(), after=after, limit=limit)
        seen += [row.id for row in page.items]
        if page.next is None:
            return seen
        after = page.next


@pytest.mark.parametrize("email", [ANNA.email, EVA.email, SOLO.email])
def test_a_teams_pages_come_newest_first_in_the_order_everyone_elses_do(store: Store, world: World, email: str) -> None:
    # A team's pages are read from its kept mail and its dates (team_mail); an admin's from the messages
    viewer = world.viewer(store, email)
    everything = _all_pages(store, world.viewer(store, ADA.email), 50)
    for limit in (1, 2):
        seen = _all_pages(store, viewer, limit)
        assert set(seen) == world.ids(*VISIBLE[email]), limit
        assert seen == [m for m in everything if m in set(seen)], limit


@pytest.mark.parametrize("email", list(VISIBLE))
def test_unresolved_codes_are_those_of_visible_mail(store: Store, world: World, email: str) -> None:
    viewer = world.viewer(store, email)
    with store.engine.connect() as conn:
        seen = set(conn.scalars(select(Message.id).where(visible(viewer))))
        codes = {
            code
            for code, message_id in conn.execute(
                select(MessageCode.code, MessageCode.message_id).where(MessageCode.record_id.is_(None))
            )
            if message_id in seen
        }
    assert bool(codes) == (email in (ADA.email, JAN.email, EVA.email))  # XX-9 is in Jan's forward
    assert store.queries.dashboard(viewer, datetime.now(UTC)).unresolved_codes == len(codes)
    assert {c.code for c in store.queries.list_unresolved_codes(viewer, limit=50)} == codes


@pytest.mark.parametrize("email", list(VISIBLE))
def test_the_dashboard_counts_exactly_the_mail_each_viewer_sees(store: Store, world: World, email: str) -> None:
    # Everything in the world was filed just now: the last day, the last week and today's bar hold all of it
    viewer, now = world.viewer(store, email), datetime.now(UTC)
    board = store.queries.dashboard(viewer, now)
    panels = store.queries.dashboard_panels(viewer, now)
    seen = len(world.ids(*VISIBLE[email]))
    assert sum(board.messages_24h.values()) == sum(board.messages_7d.values()) == seen
    assert sum(sum(bars) for bars in panels.filed_by_kind.values()) == seen
