"""Mailbox sources

- ``mail_sources``: one row per ``[[sources.imap]]`` name: the poller's lease (``lease_owner``, ``lease_until``:
  two pollers never poll one mailbox), its state, last poll, last error, failures in a row and messages taken.
- ``mail_source_folders``: per (source, folder), the folder's UIDVALIDITY and the highest UID whose message is
  committed to the intake.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.create_table(
        "mail_sources",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("messages_taken", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mail_sources")),
    )
    op.create_table(
        "mail_source_folders",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("folder", sa.String(length=500), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("messages_taken", sa.BigInteger(), nullable=False),
        sa.Column("resets", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "folder", name=op.f("pk_mail_source_folders")),
    )


def downgrade() -> None:
    op.drop_table("mail_source_folders")
    op.drop_table("mail_sources")
