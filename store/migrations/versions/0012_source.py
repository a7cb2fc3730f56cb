"""Where each receipt came from

- ``inbound.source``: ``smtp`` (the gateway), ``imap:<source name>`` (a mailbox poller), ``api``
  (``POST /api/ingest``) or ``file`` (``mailassist ingest``). Every receipt from before this revision came by SMTP,
  so existing rows get ``smtp``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.add_column("inbound", sa.Column("source", sa.String(length=100), nullable=False, server_default="smtp"))


def downgrade() -> None:
    op.drop_column("inbound", "source")
