"""The store's one error root and its children."""

from __future__ import annotations

from collections.abc import Iterable


def describe_db_error(exc: BaseException) -> str:
    """``ClassName: first line of the driver's message``: short enough for an SMTP log line or a CLI error."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {lines[0] if lines else ''}"


class StoreError(Exception):
    """Base for every error the store raises."""


class StoreUnavailableError(StoreError):
    """The database or blob directory cannot be reached or written; callers treat it as transient (SMTP 451)."""


class SchemaError(StoreError):
    """The database schema is missing or older than this code; run ``mailassist db upgrade``."""


class BlobNotFoundError(StoreError):
    """No blob with that hash is stored."""


class ImportConflictError(StoreError):
    """Imported rows clash with each other or with the database; ``problems`` holds ``(line, message)`` pairs."""

    def __init__(self, problems: Iterable[tuple[int, str]]) -> None:
        self.problems = tuple(sorted(problems, key=lambda problem: problem[0]))
        n = len(self.problems)
        super().__init__(f"{n} row{'s' if n != 1 else ''} conflict with other rows or with the database")


class PlanError(StoreError):
    """A plan the store cannot carry out as written (a malformed plan: retrying will not help)."""


class EntryInUseError(StoreError):
    """A directory entry that filed mail (or other entries) still refer to; ``references`` counts them by kind."""

    def __init__(self, references: dict[str, int], *, forceable: bool = True) -> None:
        self.references = references
        #: Whether ``force`` would delete it anyway (never for a user that mail refers to).
        self.forceable = forceable
        super().__init__(", ".join(f"{n} {what}" for what, n in references.items()))
