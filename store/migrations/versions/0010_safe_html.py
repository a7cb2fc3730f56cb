"""HTML bodies sanitized once, when filed

- ``messages.body_html_safe``: the sanitized document the viewer frames (``store.safehtml.sanitize_for_storage``),
  its images of the message's own attachments still ``cid:`` URLs. ``NULL`` for messages filed before this
  revision, and for those without an HTML body: the viewer sanitizes those when it shows them.
- ``messages.html_blocked``, ``messages.html_blocked_hosts``: the remote resources the sanitizer blocked (a count,
  and the distinct hosts as a JSON list), for "3 remote resources blocked (t.example)".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("messages", sa.Column("body_html_safe", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("html_blocked", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("html_blocked_hosts", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "html_blocked_hosts")
    op.drop_column("messages", "html_blocked")
    op.drop_column("messages", "body_html_safe")
