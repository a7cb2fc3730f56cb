"""Participants indexed by address with their role and message

``ix_participants_address_role_message`` on participants (address, role, message_id) replaces
``ix_participants_address`` (address): who may see a message is decided by the messages where a user's or a team's
addresses are From, To or Cc (``store.visibility``), and with the role and message in the index that lookup no
longer reads a participant row per message (a team of eleven sees tens of thousands).
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"


def upgrade() -> None:
    op.create_index("ix_participants_address_role_message", "participants", ["address", "role", "message_id"])
    op.drop_index("ix_participants_address", table_name="participants")


def downgrade() -> None:
    op.create_index("ix_participants_address", "participants", ["address"])
    op.drop_index("ix_participants_address_role_message", table_name="participants")
