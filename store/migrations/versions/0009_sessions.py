"""Sessions you can end, and tokens with scopes

- ``users.session_generation``: logout and a new password add one; a session cookie names the number it was issued
  under, so an older cookie logs nobody in. Existing users start at 0.
- ``api_tokens.scopes``: what a token may do, space-separated. Tokens from before this revision read the API, as
  they always could (``read``).
- ``api_tokens.expires_at``: ``NULL`` (as for every existing token) never expires.
- ``api_tokens.service``: a service token survives its user's password change. Existing tokens are not service
  tokens: the next password change revokes them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.add_column("users", sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False))
    op.add_column("api_tokens", sa.Column("scopes", sa.String(length=200), server_default="read", nullable=False))
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_tokens", sa.Column("service", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("api_tokens", "service")
    op.drop_column("api_tokens", "expires_at")
    op.drop_column("api_tokens", "scopes")
    op.drop_column("users", "session_generation")
