"""Persistence: SQLAlchemy models, Alembic migrations, raw-message blobs, and the repository verbs.

``store`` imports nothing else of ours. Callers use ``Store`` and the views; ORM objects stay inside.
"""

from __future__ import annotations

from store.errors import BlobNotFoundError, PlanError, SchemaError, StoreError, StoreUnavailableError
from store.repo import Store
from store.views import (
    FINAL_STATUSES,
    STATUSES,
    ApplyResult,
    AttachmentWrite,
    CodeWrite,
    ContactRef,
    EntityRef,
    InboundView,
    LeadRef,
    LeadWrite,
    LinkWrite,
    MessageWrite,
    ParticipantWrite,
    PlanWrite,
    RecordRef,
    RelinkResult,
    UserRef,
)

__all__ = [
    "FINAL_STATUSES",
    "STATUSES",
    "ApplyResult",
    "AttachmentWrite",
    "BlobNotFoundError",
    "CodeWrite",
    "ContactRef",
    "EntityRef",
    "InboundView",
    "LeadRef",
    "LeadWrite",
    "LinkWrite",
    "MessageWrite",
    "ParticipantWrite",
    "PlanError",
    "PlanWrite",
    "RecordRef",
    "RelinkResult",
    "SchemaError",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "UserRef",
]
