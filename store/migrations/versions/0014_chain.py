"""The forward chain a message was read from

- ``messages.chain``: the levels of a forward of a forward (or the message a reply quotes), outermost first, as
  ``linker.explain.chain_level_json`` writes them (how it was carried, who passed it on and when, and each level's
  own From, To, Cc, date, subject); ``NULL`` for messages filed before this revision and those with no chain.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.add_column("messages", sa.Column("chain", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "chain")
