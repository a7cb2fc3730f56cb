"""Thread links indexed for the conversations of a timeline

``ix_links_thread`` on links (message_id, from_message_id), thread links only: a timeline groups its messages into
conversations by the filed message each reply inherited its links from (``store.conversations``), and looks that up
once per message. Other links never carry one, so the partial index stays small.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"

THREAD_ONLY = sa.text("reason = 'thread'")


def upgrade() -> None:
    op.create_index(
        "ix_links_thread",
        "links",
        ["message_id", "from_message_id"],
        sqlite_where=THREAD_ONLY,
        postgresql_where=THREAD_ONLY,
    )


def downgrade() -> None:
    op.drop_index("ix_links_thread", table_name="links")
