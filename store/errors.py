"""The store's one error root and its children."""

from __future__ import annotations


class StoreError(Exception):
    """Base for every error the store raises."""


class StoreUnavailableError(StoreError):
    """The database or blob directory cannot be reached or written; callers treat it as transient (SMTP 451)."""


class SchemaError(StoreError):
    """The database schema is missing or older than this code; run ``mailassist db upgrade``."""


class BlobNotFoundError(StoreError):
    """No blob with that hash is stored."""
