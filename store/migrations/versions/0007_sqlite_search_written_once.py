"""SQLite: the writer adds a message to full-text search once, with its participants (no insert triggers)

Migration 0004's participant trigger ran an FTS5 ``UPDATE`` per participant, and FTS5 re-indexes the whole row
on an update, body included: four or five times per message. ``store.apply`` now inserts the row once the
participants are known (``store.search.index_on_sqlite``). Rows already indexed stay as they are; the delete
trigger stays. PostgreSQL keeps its triggers (a ``tsvector`` concatenation per participant, no re-parse).
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"

#: As migration 0004 created them.
_TRIGGERS = [
    """CREATE TRIGGER messages_fts_message_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, subject, body_text, addresses)
        VALUES (new.id, coalesce(new.subject, ''), substr(coalesce(new.body_text, ''), 1, 100000),
                coalesce(new.from_name, '') || ' ' || coalesce(new.from_address, ''));
    END""",
    """CREATE TRIGGER messages_fts_participant_insert AFTER INSERT ON participants BEGIN
        UPDATE messages_fts SET addresses = addresses || ' ' || new.address || ' ' || coalesce(new.name, '')
        WHERE rowid = new.message_id;
    END""",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("DROP TRIGGER messages_fts_participant_insert")
        bind.exec_driver_sql("DROP TRIGGER messages_fts_message_insert")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _TRIGGERS:
            bind.exec_driver_sql(statement)
