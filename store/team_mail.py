"""The mail each team may see, kept (``team_mail``): a team viewer's pages read it from one index instead of
deciding it anew, for every statement, from the members, their addresses and the links.

The rule is ``store.visibility``'s: a message is a team's when a member submitted it, is linked to it (a ``user``
link), or has one of the members' addresses as its From, To or Cc. What it depends on changes in two ways, and the
store keeps the rows through both:

- a message's links or participants: filing and relinking add them (``store.apply.add_links`` calls ``refresh``
  for the messages it wrote, and the kept counts gain what each team newly sees); refiling deletes the message,
  and its rows go with it (ON DELETE CASCADE). Deleting a directory entry removes only its own links, never a
  user's, which is refused while the user has mail.
- who is in a team, and their addresses: a users import, a user's delete, stored addresses brought to their
  matching form. Each runs inside ``people_changing``, which compares every team's members and addresses before
  and after and rebuilds the rows and counts of each team that changed.

A test holds the kept rows equal to the rule after each of these, and every store test's teardown checks it again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, Select, and_, bindparam, delete, insert, select, union
from sqlalchemy.orm import Session

from store.bulk import chunks
from store.index_counts import Teams, rebuild_team_counts
from store.kept_models import TeamMail
from store.models import Link, Message, Participant, User, UserAddress
from store.visibility import PARTICIPANT_ROLES, SENT


def team_pairs(message_ids: Any = None, team_ids: Any = None) -> Select[tuple[int, int]]:
    """(``team_id``, ``message_id``) for every message a team may see, each pair once: among ``message_ids`` and
    ``team_ids`` when given (lists, subqueries or expanding parameters)."""

    def among(column: Any, values: Any) -> list[Any]:
        return [] if values is None else [column.in_(values)]

    teams = [User.team_id.is_not(None), *among(User.team_id, team_ids)]
    submitted = (
        select(User.team_id, Message.id.label("message_id"))
        .join(User, User.id == Message.submitter_user_id)
        .where(*teams, *among(Message.id, message_ids))
    )
    linked = (
        select(User.team_id, Link.message_id)
        .join(User, and_(Link.entity_type == "user", User.id == Link.entity_id))
        .where(*teams, *among(Link.message_id, message_ids))
    )
    took_part = (
        select(User.team_id, Participant.message_id)
        .join(UserAddress, UserAddress.address == Participant.address)
        .join(User, User.id == UserAddress.user_id)
        .where(*teams, Participant.role.in_(PARTICIPANT_ROLES), *among(Participant.message_id, message_ids))
    )
    return union(submitted, linked, took_part)  # type: ignore[return-value]


#: PostgreSQL advisory lock between writers of team mail: filing and relinking hold it shared, a change to who is in
#: a team exclusively. Without it, a receipt filed while a users import commits could decide the message's teams
#: from the members before the import, after the import rebuilt those teams without the message (its transaction
#: had not committed): the moved user's old team would keep seeing it. SQLite runs one writer at a time already.
PEOPLE_LOCK = 0x7465616D_6D61696C


def hold_people(session: Session, *, exclusive: bool = False) -> None:
    """Until the transaction ends, keep who is in a team from changing (``exclusive``: change it) on PostgreSQL.
    Taken before any message row is locked: a rebuild's inserts wait on locked messages."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        conn.exec_driver_sql(f"SELECT {lock}({PEOPLE_LOCK})")


# Filing refreshes every message it files, so these are built once (see store.index_counts).
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_NOW = team_pairs(message_ids=_IDS)
_KEPT = select(TeamMail.team_id, TeamMail.message_id).where(TeamMail.message_id.in_(_IDS))
_ADD = insert(TeamMail)
_DROP = delete(TeamMail).where(TeamMail.team_id == bindparam("b_team"), TeamMail.message_id == bindparam("b_message"))


def _read(conn: Connection, stmt: Any, message_ids: Collection[int]) -> Teams:
    found: Teams = {}
    for chunk in chunks(sorted(message_ids)):
        for team_id, message_id in conn.execute(stmt, {"ids": chunk}):
            found.setdefault(message_id, set()).add(team_id)
    return found


def refresh(
    session: Session, message_ids: Collection[int], sent: dict[int, datetime], *, new: bool
) -> tuple[Teams, Teams]:
    """Bring these messages' rows up to the rule, after their links or participants were written; (teams before,
    teams after) per message. ``sent``: each message's date (``index_counts.message_entries``); ``new``: the
    messages were created in this transaction, so no team saw them before. The caller holds ``hold_people``."""
    conn = session.connection()
    before = {} if new else _read(conn, _KEPT, message_ids)
    after = _read(conn, _NOW, message_ids)
    added = [
        {"team_id": team, "message_id": m, "sent": sent[m]}
        for m, teams in sorted(after.items())
        for team in sorted(teams - before.get(m, set()))
    ]
    gone = [
        {"b_team": team, "b_message": m}
        for m, teams in sorted(before.items())
        for team in sorted(teams - after.get(m, set()))
    ]
    if added:
        conn.execute(_ADD, added)
    if gone:
        conn.execute(_DROP, gone)
    return before, after


def kept_teams(session: Session, message_ids: Collection[int]) -> Teams:
    """Per message, the teams its kept rows say see it. The caller holds ``hold_people``."""
    return _read(session.connection(), _KEPT, message_ids)


def rebuild_team_mail(session: Session, team_ids: Collection[int] | None = None) -> None:
    """Decide again which messages these teams (``None``: every team) may see, and count their mail again."""
    hold_people(session, exclusive=True)
    where = [] if team_ids is None else [TeamMail.team_id.in_(sorted(team_ids))]
    session.execute(delete(TeamMail).where(*where))
    found = team_pairs(team_ids=None if team_ids is None else sorted(team_ids)).subquery()
    source = select(found.c.team_id, found.c.message_id, SENT).join(Message, Message.id == found.c.message_id)
    session.execute(insert(TeamMail).from_select(["team_id", "message_id", "sent"], source))
    rebuild_team_counts(session, team_ids)


def _people(session: Session) -> dict[int | None, set[tuple[int, str | None]]]:
    """Per team: its members with each of their addresses."""
    rows = session.execute(
        select(User.team_id, User.id, UserAddress.address)
        .outerjoin(UserAddress, UserAddress.user_id == User.id)
        .where(User.team_id.is_not(None))
    )
    found: dict[int | None, set[tuple[int, str | None]]] = {}
    for team_id, user_id, address in rows:
        found.setdefault(team_id, set()).add((user_id, address))
    return found


@contextmanager
def people_changing(session: Session) -> Iterator[None]:
    """Around a change to users' teams or addresses: afterwards, rebuild the rows of every team whose members or
    addresses changed (nothing when none did)."""
    hold_people(session, exclusive=True)
    before = _people(session)
    yield
    after = _people(session)
    changed = {
        team for team in before.keys() | after.keys() if team is not None and before.get(team) != after.get(team)
    }
    if changed:
        rebuild_team_mail(session, changed)
