"""Team mail: the messages each team may see, and their counts per directory entry, kept

- ``team_mail``: a row per team and message the team may see (a member submitted it, is linked to it, or has an
  address in its From, To or Cc), with when the message counts as sent (its Date header, else when it was filed).
- ``team_counts``: ``index_counts`` for each team's mail.

Both are filled here from the mail filed before; the store keeps them from then on (``store.team_mail``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"

#: (team, message) pairs, each once: the rule of ``store.visibility`` for a team.
_TEAM_PAIRS = """
    SELECT u.team_id, m.id AS message_id FROM messages m JOIN users u ON u.id = m.submitter_user_id
        WHERE u.team_id IS NOT NULL
    UNION SELECT u.team_id, l.message_id FROM links l JOIN users u ON l.entity_type = 'user' AND u.id = l.entity_id
        WHERE u.team_id IS NOT NULL
    UNION SELECT u.team_id, p.message_id FROM participants p JOIN user_addresses a ON a.address = p.address
        JOIN users u ON u.id = a.user_id WHERE u.team_id IS NOT NULL AND p.role IN ('from', 'to', 'cc')"""

#: Per index: the link type filing a message under an entry directly, and the directory tables whose entries' links
#: count under their client (a client's mail is also its contacts' and records').
_ENTRIES = {
    "clients": ("client", ("contacts", "records")),
    "contacts": ("contact", ()),
    "leads": ("lead", ()),
    "records": ("record", ()),
    "users": ("user", ()),
}


def _entry_pairs(index: str) -> str:
    """(entity, message_id) pairs of an index, each once (as ``store.index_counts.pairs``)."""
    direct, through = _ENTRIES[index]
    # Constants of this file, not input.
    parts = [f"SELECT entity_id AS entity, message_id FROM links WHERE entity_type = '{direct}'"]  # noqa: S608
    parts += [
        f"SELECT t.client_id, l.message_id FROM links l JOIN {table} t "  # noqa: S608
        f"ON l.entity_type = '{table[:-1]}' AND t.id = l.entity_id WHERE t.client_id IS NOT NULL"
        for table in through
    ]
    if index == "users":
        parts.append("SELECT submitter_user_id, id FROM messages WHERE submitter_user_id IS NOT NULL")
    return " UNION ".join(parts)


def upgrade() -> None:
    op.create_table(
        "team_mail",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_team_mail_team_id_teams"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_team_mail_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "message_id", name=op.f("pk_team_mail")),
    )
    op.create_index("ix_team_mail_team_sent", "team_mail", ["team_id", "sent", "message_id"])
    op.create_index("ix_team_mail_message", "team_mail", ["message_id"])
    op.create_table(
        "team_counts",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("index_name", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_counts_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "index_name", "entity_id", name=op.f("pk_team_counts")),
    )
    op.execute(
        sa.text(
            "INSERT INTO team_mail (team_id, message_id, sent) "  # noqa: S608 (constants of this file, not input)
            f"SELECT t.team_id, t.message_id, coalesce(m.date, m.created_at) FROM ({_TEAM_PAIRS}) t "
            "JOIN messages m ON m.id = t.message_id"
        )
    )
    for index in _ENTRIES:
        op.execute(
            sa.text(
                "INSERT INTO team_counts (team_id, index_name, entity_id, messages, last_at) "  # noqa: S608
                f"SELECT tm.team_id, '{index}', p.entity, count(*), max(tm.sent) FROM ({_entry_pairs(index)}) p "
                "JOIN team_mail tm ON tm.message_id = p.message_id GROUP BY tm.team_id, p.entity"
            )
        )


def downgrade() -> None:
    op.drop_table("team_counts")
    op.drop_table("team_mail")
