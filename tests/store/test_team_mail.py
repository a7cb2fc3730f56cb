"""The mail each team sees is kept (``store.team_mail``): after every change to the mail or to who is in a team,
a team viewer sees exactly its members' mail (each member's as an ``own`` viewer sees it, which is decided live),
and the kept rows and counts equal a rebuild.

The data is ``build_world`` (``tests/store/world.py``): team PL (Ada, Anna, Paweł), team CZ (Jan, Eva), Solo.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from store import Store
from store.index_counts import count_added, message_entries, rebuild_team_counts
from store.kept_models import TeamMail
from store.models import User
from store.page_shapes import MessageFilter, Viewer
from store.shapes import UserRow
from store.team_mail import hold_people
from tests.kept import assert_kept_as_rebuilt, kept_rows
from tests.store.world import ANNA, EVA, JAN, PAWEL, World, build_world, file_message, person


def seen(store: Store, viewer: Viewer) -> set[int]:
    """Every message ``viewer`` may see, through the message list's pages."""
    found: set[int] = set()
    after = None
    while True:
        page = store.queries.list_messages(viewer, MessageFilter(), after=after, limit=3)
        found.update(row.id for row in page.items)
        if page.next is None:
            return found
        after = page.next


def as_team(store: Store, user_id: int) -> Viewer:
    viewer = store.queries.get_viewer(user_id)
    assert viewer is not None
    return dataclasses.replace(viewer, role="team")


def as_own(store: Store, user_id: int) -> Viewer:
    viewer = store.queries.get_viewer(user_id)
    assert viewer is not None
    return dataclasses.replace(viewer, role="own", team_id=None)


def assert_teams_see_their_members_mail(store: Store) -> dict[int, set[int]]:
    """Per team: what its viewers see, checked equal to the union of its members' own mail; the kept rows checked
    against a rebuild."""
    with store.engine.connect() as conn:
        teams: dict[int, list[int]] = {}
        for user_id, team_id in conn.execute(select(User.id, User.team_id).where(User.team_id.is_not(None))):
            teams.setdefault(team_id, []).append(user_id)
    mail = {}
    for team_id, members in teams.items():
        expected = set().union(*(seen(store, as_own(store, m)) for m in members))
        for member in members:
            assert seen(store, as_team(store, member)) == expected, f"team {team_id}, member {member}"
        mail[team_id] = expected
    assert_kept_as_rebuilt(store)
    return mail


def team_of(world: World, store: Store, user: UserRow) -> int:
    viewer = store.queries.get_viewer(world.users[user.email])
    assert viewer is not None and viewer.team_id is not None
    return viewer.team_id


def test_filed_mail_is_each_teams_as_the_rule_says(store: Store, world: World) -> None:
    mail = assert_teams_see_their_members_mail(store)
    pl, cz = team_of(world, store, ANNA), team_of(world, store, EVA)
    # Anna's alias in Cc of Eva's redirect: both teams see it; Jan in Cc of Anna's: both see that too
    assert world.ids("eva_alias_anna", "cc_jan") <= mail[pl] & mail[cz]
    assert world.m["unmatched"] in mail[pl] - mail[cz]


def test_a_second_receipt_by_another_team_shows_it_the_email(store: Store, world: World) -> None:
    pl = team_of(world, store, ANNA)
    assert world.m["unmatched"] not in assert_teams_see_their_members_mail(store)[team_of(world, store, EVA)]
    # Eva (CZ) files Paweł's email to a stranger again: her team now sees it, counted under her
    again = file_message(
        store,
        submitter=world.submitter(EVA),
        key="<6@crm>",
        subject="Hello",
        date=None,
        participants=(person("from", PAWEL.email), person("to", "stranger@example.net")),
    )
    assert again == world.m["unmatched"]
    mail = assert_teams_see_their_members_mail(store)
    assert again in mail[team_of(world, store, EVA)] & mail[pl]


def test_a_user_moving_team_takes_their_mail_along(store: Store, world: World) -> None:
    pl, cz = team_of(world, store, ANNA), team_of(world, store, EVA)
    before = assert_teams_see_their_members_mail(store)
    jan, eva = (seen(store, as_own(store, world.users[user.email])) for user in (JAN, EVA))
    jan_only = jan - eva - before[pl]  # "beta": Jan's alone
    assert jan_only
    store.directory.apply_users([dataclasses.replace(JAN, team=ANNA.team)])
    after = assert_teams_see_their_members_mail(store)
    assert jan_only <= after[pl]
    assert not jan_only & after[cz]


def test_an_alias_given_and_taken_away_changes_what_the_team_sees(store: Store, world: World) -> None:
    cz = team_of(world, store, EVA)
    assert world.m["unmatched"] not in assert_teams_see_their_members_mail(store)[cz]
    # The stranger Paweł wrote to turns out to be Eva's private address
    store.directory.apply_users([dataclasses.replace(EVA, aliases=("stranger@example.net",))])
    assert world.m["unmatched"] in assert_teams_see_their_members_mail(store)[cz]
    store.directory.apply_users([EVA])
    assert world.m["unmatched"] not in assert_teams_see_their_members_mail(store)[cz]


def test_a_user_leaving_every_team_or_deleted_takes_their_addresses_mail_away(store: Store, world: World) -> None:
    # A new member of CZ whose address took part in Paweł's mail, and nothing submitted
    newcomer = UserRow(9, "stranger@example.net", "Stranger", EVA.team, "team")
    store.directory.apply_users([newcomer])
    cz = team_of(world, store, EVA)
    assert world.m["unmatched"] in assert_teams_see_their_members_mail(store)[cz]
    store.directory.apply_users([dataclasses.replace(newcomer, team=None)])
    assert world.m["unmatched"] not in assert_teams_see_their_members_mail(store)[cz]
    store.directory.apply_users([newcomer])
    assert world.m["unmatched"] in assert_teams_see_their_members_mail(store)[cz]
    store.directory.delete_entry("users", newcomer.email)
    assert world.m["unmatched"] not in assert_teams_see_their_members_mail(store)[cz]


def test_a_refiled_email_leaves_every_team(store: Store, world: World) -> None:
    store.filing.refile_message(world.m["cc_jan"])
    mail = assert_teams_see_their_members_mail(store)
    assert all(world.m["cc_jan"] not in ids for ids in mail.values())


@pytest.mark.postgres
def test_filing_waits_while_who_is_in_a_team_changes(pg_url: str, tmp_path: Path) -> None:
    # On PostgreSQL a filing could otherwise decide a message's teams from members a concurrent import is changing
    store = Store(pg_url, tmp_path / "blobs")
    store.open(upgrade=True)
    try:
        world = build_world(store)
        filed: list[int] = []

        def file_again() -> None:
            again = file_message(
                store, submitter=world.submitter(EVA), key="<6@crm>", subject="Hello", date=None, participants=()
            )
            filed.append(again)

        with Session(store.engine) as session, session.begin():
            hold_people(session, exclusive=True)  # as a users import does
            filing = threading.Thread(target=file_again)
            filing.start()
            assert _waits_on_advisory_lock(store), "the filing did not wait for the change of members"
            assert filing.is_alive() and not filed
        filing.join(30)
        assert filed == [world.m["unmatched"]]
        assert_teams_see_their_members_mail(store)
    finally:
        store.close()


def _waits_on_advisory_lock(store: Store) -> bool:
    """Whether another session comes to wait on an advisory lock within ten seconds."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'")
    deadline = time.monotonic() + 10
    with store.engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(query).scalar_one():
                return True
            conn.rollback()
            time.sleep(0.02)
    return False


def test_a_team_that_stops_seeing_a_message_while_links_are_added_has_those_counts_recounted(
    store: Store, world: World
) -> None:
    # Given a message team CZ sees, and its row gone as refresh would leave it had the team stopped seeing it
    cz, message = team_of(world, store, EVA), world.m["eva_alias_anna"]
    with Session(store.engine) as session, session.begin():
        session.execute(delete(TeamMail).where(TeamMail.team_id == cz, TeamMail.message_id == message))
        entries = message_entries(session, [message])
        # When links are counted with the team among those that saw it before and not after
        count_added(session, entries.keys, entries, ({message: {cz}}, {message: set()}))
    # Then the team's counts no longer hold it: they equal a rebuild (which reads the rows as they now are)
    with Session(store.engine) as session:
        assert kept_rows(session)["team_counts"] == _rebuilt_team_counts(session)
    store.queries.rebuild_index_counts()  # the row was removed by hand: put it back for the fixture's check


def _rebuilt_team_counts(session: Session) -> set[tuple[object, ...]]:
    rebuild_team_counts(session, None)
    found = kept_rows(session)["team_counts"]
    session.rollback()
    return found
