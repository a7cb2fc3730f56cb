"""inline_blobs: small raw messages and attachments kept in the database, committed with the row that names them"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "inline_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_inline_blobs")),
    )


def downgrade() -> None:
    op.drop_table("inline_blobs")
