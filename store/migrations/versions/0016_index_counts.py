"""Index counts: the mail linked to each directory entry, kept for the indexes

- ``index_counts``: per index (``clients``, ``contacts``, ``leads``, ``records``, ``users``) and entry, how many
  messages are linked to it and the latest one's date (its Date header, else when it was filed); a client counts
  its contacts' and records' mail too, a user what it submitted. Filled here from the links; the store keeps it
  from then on (``store.index_counts``).
- ``ix_links_entity_message`` on links (entity_type, entity_id, message_id) replaces ``ix_links_entity``: an
  entry's mail is read from the index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"

#: (entity, message_id) pairs per index, each pair once (as ``store.index_counts.pairs``).
_PAIRS = {
    "clients": """
        SELECT entity_id AS entity, message_id FROM links WHERE entity_type = 'client'
        UNION SELECT c.client_id, l.message_id FROM links l
            JOIN contacts c ON l.entity_type = 'contact' AND c.id = l.entity_id WHERE c.client_id IS NOT NULL
        UNION SELECT r.client_id, l.message_id FROM links l
            JOIN records r ON l.entity_type = 'record' AND r.id = l.entity_id WHERE r.client_id IS NOT NULL""",
    "contacts": "SELECT entity_id AS entity, message_id FROM links WHERE entity_type = 'contact'",
    "leads": "SELECT entity_id AS entity, message_id FROM links WHERE entity_type = 'lead'",
    "records": "SELECT entity_id AS entity, message_id FROM links WHERE entity_type = 'record'",
    "users": """
        SELECT entity_id AS entity, message_id FROM links WHERE entity_type = 'user'
        UNION SELECT submitter_user_id, id FROM messages WHERE submitter_user_id IS NOT NULL""",
}


def upgrade() -> None:
    op.create_table(
        "index_counts",
        sa.Column("index_name", sa.String(16), primary_key=True),
        sa.Column("entity_id", sa.Integer(), primary_key=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_links_entity_message", "links", ["entity_type", "entity_id", "message_id"])
    op.drop_index("ix_links_entity", table_name="links")
    for index, pairs in _PAIRS.items():  # constants of this file, not input
        op.execute(
            sa.text(
                "INSERT INTO index_counts (index_name, entity_id, messages, last_at) "  # noqa: S608
                f"SELECT '{index}', p.entity, count(*), max(coalesce(m.date, m.created_at)) "
                f"FROM ({pairs}) p JOIN messages m ON m.id = p.message_id GROUP BY p.entity"
            )
        )


def downgrade() -> None:
    op.create_index("ix_links_entity", "links", ["entity_type", "entity_id"])
    op.drop_index("ix_links_entity_message", table_name="links")
    op.drop_table("index_counts")
