"""inline_blobs: small raw messages and attachments kept in the database, committed with the row that names them

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inline_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_inline_blobs")),
    )


def downgrade() -> None:
    op.drop_table("inline_blobs")
