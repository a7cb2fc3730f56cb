"""Stored bytes: raw messages and attachments, in the database (``InlineBlob``) or in the blob directory."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from store.blobs import BlobStore
from store.database import Database
from store.ingest import inline_heads
from store.models import InlineBlob

_INLINE_BLOB = select(InlineBlob.data).where(InlineBlob.sha256 == bindparam("sha256"))


class Content:
    """Reads of stored bytes wherever they are kept."""

    def __init__(self, database: Database, blobs: BlobStore) -> None:
        self._db = database
        self._blobs = blobs

    def get_blob(self, sha256: str) -> bytes:
        """Return a blob's bytes (a raw message or an attachment), from the database or the blob directory;
        raise ``BlobNotFoundError`` when neither has it."""
        data = self._db.read(lambda conn: conn.scalar(_INLINE_BLOB, {"sha256": sha256}))
        return bytes(data) if data is not None else self._blobs.get(sha256)

    def get_raw_heads(self, sha256s: list[str], size: int) -> dict[str, bytes]:
        """The first ``size`` bytes of each of these raw messages that is stored (a missing one is left out)."""
        wanted = sorted(set(sha256s))
        heads = self._db.run(lambda session: inline_heads(session, wanted, size))
        for sha in wanted:
            if sha in heads:
                continue
            try:
                with self._blobs.path_for(sha).open("rb") as f:
                    heads[sha] = f.read(size)
            except (OSError, ValueError):
                continue
        return heads
