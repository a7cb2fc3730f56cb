"""Alembic environment: the engine is handed in by ``store.db``; there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from store.models import Base
from store.search import include_name

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # The search table is made by hand (FTS5 / tsvector and triggers): autogenerate leaves it alone.
        include_name=include_name,
    )
    context.run_migrations()
