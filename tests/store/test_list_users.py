"""``Store.queries.list_users``: the submitter choices of the viewer's message filters."""

from __future__ import annotations

from store import Store, UserRef
from tests.store.world import ADA, ANNA, EVA, JAN, PAWEL, SOLO, USERS


def test_lists_every_user_by_name_with_role_and_team(store: Store) -> None:
    assert store.queries.list_users() == []
    store.directory.apply_users(list(USERS))

    got = store.queries.list_users()

    assert [u.name for u in got] == sorted(u.name for u in USERS)
    by_email = {u.email: u for u in got}
    assert set(by_email) == {u.email for u in USERS}
    anna = by_email[ANNA.email]
    assert anna == UserRef(anna.id, ANNA.email, ANNA.name, "team", "PL")
    assert by_email[SOLO.email].team is None
    assert {by_email[u.email].role for u in (ADA, PAWEL, JAN, EVA)} == {"all", "own", "team"}
