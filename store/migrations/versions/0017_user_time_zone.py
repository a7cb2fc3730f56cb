"""User time zones, and the ingest log's keyset index

- ``users.time_zone``: the IANA zone the viewer shows a user's times in (``mailassist user set-time-zone``);
  ``NULL``, the default, leaves it to the browser's zone, else UTC.
- ``ix_inbound_received_at_id`` on inbound (received_at, id) replaces ``ix_inbound_received_at``: the ingest log
  sorts and pages by both (``store.ingest``), and the id breaks ties between receipts of the same instant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    op.add_column("users", sa.Column("time_zone", sa.String(length=64), nullable=True))
    op.create_index("ix_inbound_received_at_id", "inbound", ["received_at", "id"])
    op.drop_index("ix_inbound_received_at", table_name="inbound")


def downgrade() -> None:
    op.create_index("ix_inbound_received_at", "inbound", ["received_at"])
    op.drop_index("ix_inbound_received_at_id", table_name="inbound")
    op.drop_column("users", "time_zone")
