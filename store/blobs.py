"""Content-addressed raw-message store: ``DIR/ab/cd/<sha256>``, made durable before anyone is told "250"."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from store.errors import BlobNotFoundError, StoreUnavailableError


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Write-once files named by the SHA-256 of their bytes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"

    def open(self) -> None:
        """Create the directory layout; raise ``StoreUnavailableError`` when it cannot be written."""
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(f"blob directory {self.root}: {exc.strerror}") from exc

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this hash lives (whether or not it exists)."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` durably and return its SHA-256: temp file, fsync, rename, fsync the directories."""
        digest = hashlib.sha256(data).hexdigest()
        final = self.path_for(digest)
        try:
            if final.exists():
                # A complete earlier write: rename is atomic, so an existing name means whole content.
                _fsync_dir(final.parent)
                return digest
            created = [p for p in (final.parent.parent, final.parent) if not p.exists()]
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="in-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp_name, final)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            _fsync_dir(final.parent)
            for directory in created:
                _fsync_dir(directory.parent)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot write blob {digest[:12]}: {exc.strerror or exc}") from exc
        return digest

    def get(self, sha256: str) -> bytes:
        """Return the stored bytes, or raise ``BlobNotFoundError``."""
        try:
            return self.path_for(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(sha256) from None

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this hash is stored."""
        return self.path_for(sha256).exists()
