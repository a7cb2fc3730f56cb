"""Content-addressed raw-message store: ``DIR/ab/cd/<sha256>``, made durable before anyone is told "250".

Files are created mode 0600 and directories 0700 (``store.files``): blobs are mail.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from store.errors import BlobNotFoundError, StoreUnavailableError
from store.files import FILE_MODE, make_private_dirs

#: Directory fsyncs in flight at once during a group commit.
SYNC_THREADS = 8


#: ``open(O_TMPFILE)`` fails with these where the kernel or filesystem does not support it.
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL})


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (one call may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class BlobWrite:
    """A written blob: its hash, and the directories to fsync before its name is durable."""

    sha256: str
    dirs: frozenset[Path]


class BlobStore:
    """Write-once files named by the SHA-256 of their bytes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._sync_pool: ThreadPoolExecutor | None = None
        #: Fan-out directories known to exist (they are never removed), so a write needs no mkdir.
        self._dirs: set[Path] = set()
        self._lock = threading.Lock()

    def open(self) -> None:
        """Create the directory layout; raise ``StoreUnavailableError`` when it cannot be written."""
        try:
            make_private_dirs(self._tmp)
        except OSError as exc:
            raise StoreUnavailableError(f"blob directory {self.root}: {exc.strerror}") from exc

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this hash lives (whether or not it exists)."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` durably and return its SHA-256: temp file, fsync, rename, fsync the directories."""
        written = self.write(data)
        self.sync_dirs(written.dirs)
        return written.sha256

    def write(self, data: bytes) -> BlobWrite:
        """Write ``data`` under its final name, its bytes fsync'd, but not yet its name: the blob is durable once
        ``sync_dirs(result.dirs)`` returns. A group commit syncs the directories of many blobs in one pass."""
        digest = hashlib.sha256(data).hexdigest()
        final = self.path_for(digest)
        # The whole chain, not only directories this call created: another writer may have created one a moment
        # ago and not synced it yet. Syncing a clean directory is cheap (no journal commit).
        dirs = frozenset((final.parent, final.parent.parent, self.root))
        try:
            if os.path.exists(final):
                # A complete earlier write: a name only ever appears over whole, fsync'd content.
                return BlobWrite(digest, dirs)
            self._write_new(final, data)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot write blob {digest[:12]}: {exc.strerror or exc}") from exc
        return BlobWrite(digest, dirs)

    def _write_new(self, final: Path, data: bytes) -> None:
        """``data`` under the name ``final``, its bytes fsync'd before the name appears.

        An unnamed file (``O_TMPFILE``) in the blob's own directory, linked in once complete: no temporary name to
        clean up after a crash, and no shared temp directory that every writer locks (measured: its inode lock,
        the cross-directory rename and inode allocation next to it were a sixth of the gateway's CPU under load).
        Where the filesystem has no ``O_TMPFILE``, a temp file in ``tmp/`` renamed into place.
        """
        if final.parent not in self._dirs:
            make_private_dirs(final.parent)
            self._dirs.add(final.parent)
        parent = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fd = os.open(".", os.O_TMPFILE | os.O_WRONLY, FILE_MODE, dir_fd=parent)
            except OSError as exc:
                if exc.errno not in _NO_TMPFILE:
                    raise
                self._write_renamed(final, data)
                return
            try:
                os.fchmod(fd, FILE_MODE)  # exactly, whatever the umask took away from the mode asked for
                _write_all(fd, data)
                os.fsync(fd)
                # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N, as open(2) describes; a dst_dir_fd makes Python
                # call linkat, plain link() would not follow the magic link. An existing name holds these bytes.
                with contextlib.suppress(FileExistsError):
                    os.link(f"/proc/self/fd/{fd}", final.name, dst_dir_fd=parent, follow_symlinks=True)
            finally:
                os.close(fd)
        finally:
            os.close(parent)

    def _write_renamed(self, final: Path, data: bytes) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="in-")
        try:
            try:
                os.fchmod(fd, FILE_MODE)
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def sync_dirs(self, dirs: Iterable[Path]) -> None:
        """fsync each directory once, so the names written into them survive a crash.

        Several at once run concurrently: the filesystem folds concurrent fsyncs into one journal commit, where
        one after another would each wait for a commit of their own (measured: 3-5x slower for 20 blobs).
        """
        unique = set(dirs)
        try:
            if len(unique) <= 1:
                for directory in unique:
                    _fsync_dir(directory)
                return
            if self._sync_pool is None:
                with self._lock:
                    if self._sync_pool is None:
                        self._sync_pool = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="intake-fsync")
            for _ in self._sync_pool.map(_fsync_dir, unique):
                pass
        except OSError as exc:
            raise StoreUnavailableError(f"cannot sync blob directories: {exc.strerror or exc}") from exc

    def close(self) -> None:
        """Release the directory sync threads."""
        if self._sync_pool is not None:
            self._sync_pool.shutdown(wait=False)
            self._sync_pool = None

    def get(self, sha256: str) -> bytes:
        """Return the stored bytes, or raise ``BlobNotFoundError``."""
        try:
            return self.path_for(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(sha256) from None

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this hash is stored."""
        return self.path_for(sha256).exists()
