"""Trust at the door: per-user secret assistant addresses, the submitter and its proof on each receipt, and SMTP
refusals counted per reason

- ``users.assistant_token_hash``: the SHA-256 of the user's secret address token (``assistant+TOKEN@…``).
- ``inbound.submitter``, ``inbound.proof``, ``inbound.auth``: who the gateway decided submitted the message, what
  proved it (``secret-address``, ``trusted-relay``, ``dkim``, ``spf``, ``arc``), and the DKIM, SPF, DMARC and ARC
  results as JSON. Receipts from before this revision have none: the linker then reads the submitter from the
  headers as it used to.
- ``smtp_rejections.reason``: part of the key, so ``/metrics`` counts refusals per reason as well as per code.
  Rows counted before this revision keep an empty reason.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("users", sa.Column("assistant_token_hash", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_users_assistant_token_hash"), "users", ["assistant_token_hash"], unique=True)
    op.add_column("inbound", sa.Column("submitter", sa.String(length=320), nullable=True))
    op.add_column("inbound", sa.Column("proof", sa.String(length=32), nullable=True))
    op.add_column("inbound", sa.Column("auth", sa.JSON(), nullable=True))
    # A new key: a new table, the old counts copied in with an empty reason (portable to SQLite and PostgreSQL).
    op.create_table(
        "smtp_rejections_v2",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "code", "reason", name="pk_smtp_rejections_v2"),
    )
    op.execute(
        "INSERT INTO smtp_rejections_v2 (day, code, reason, count) SELECT day, code, '', count FROM smtp_rejections"
    )
    op.drop_table("smtp_rejections")
    op.rename_table("smtp_rejections_v2", "smtp_rejections")
    _rename_primary_key("smtp_rejections_v2", "smtp_rejections")


def _rename_primary_key(old_table: str, new_table: str) -> None:
    # SQLite keeps no constraint names on a primary key it can compare; PostgreSQL does.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {new_table} RENAME CONSTRAINT pk_{old_table} TO pk_{new_table}")


def downgrade() -> None:
    op.create_table(
        "smtp_rejections_v1",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "code", name="pk_smtp_rejections_v1"),
    )
    op.execute(
        "INSERT INTO smtp_rejections_v1 (day, code, count) "
        "SELECT day, code, sum(count) FROM smtp_rejections GROUP BY day, code"
    )
    op.drop_table("smtp_rejections")
    op.rename_table("smtp_rejections_v1", "smtp_rejections")
    _rename_primary_key("smtp_rejections_v1", "smtp_rejections")
    op.drop_column("inbound", "auth")
    op.drop_column("inbound", "proof")
    op.drop_column("inbound", "submitter")
    op.drop_index(op.f("ix_users_assistant_token_hash"), table_name="users")
    op.drop_column("users", "assistant_token_hash")
