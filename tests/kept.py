"""The rows the store keeps beside the mail (``index_counts``, ``team_mail``, ``team_counts``), checked against
what rebuilding them from the mail, the links and the users gives. The ``store`` fixtures check this after every
test, so a write path that forgets to keep them fails whichever test takes it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import Store
from store.index_counts import rebuild_index_counts
from store.kept_models import IndexCount, TeamCount, TeamMail
from store.team_mail import rebuild_team_mail

Rows = dict[str, set[tuple[Any, ...]]]


def kept_rows(session: Session) -> Rows:
    c, t, m = IndexCount, TeamCount, TeamMail
    return {
        "index_counts": set(session.execute(select(c.index_name, c.entity_id, c.messages, c.last_at))),
        "team_counts": set(session.execute(select(t.team_id, t.index_name, t.entity_id, t.messages, t.last_at))),
        "team_mail": set(session.execute(select(m.team_id, m.message_id, m.sent))),
    }


def assert_kept_as_rebuilt(store: Store) -> Rows:
    """The kept rows, asserted equal to a rebuild (made in a transaction rolled back after)."""
    with Session(store.engine) as session:
        before = kept_rows(session)
        rebuild_index_counts(session)
        rebuild_team_mail(session)
        after = kept_rows(session)
        session.rollback()
    for table in before:
        assert before[table] == after[table], (
            f"{table}: kept but not rebuilt {sorted(before[table] - after[table])[:5]}, "
            f"rebuilt but not kept {sorted(after[table] - before[table])[:5]}"
        )
    return before
