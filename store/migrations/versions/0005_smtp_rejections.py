"""smtp_rejections: SMTP refusals counted per day and reply code, for the Prometheus metrics"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "smtp_rejections",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "code", name=op.f("pk_smtp_rejections")),
    )


def downgrade() -> None:
    op.drop_table("smtp_rejections")
