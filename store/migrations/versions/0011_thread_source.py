"""Where a thread link came from

- ``links.from_message_id``: for a link with reason ``thread``, the filed message (of the reply's In-Reply-To or
  References) it was inherited from; ``NULL`` for every other link, and for thread links filed before this
  revision. A plain integer, no foreign key: the viewer shows it only when that message is visible and exists.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.add_column("links", sa.Column("from_message_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("links", "from_message_id")
