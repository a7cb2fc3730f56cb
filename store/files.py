"""Files and directories the store creates (the SQLite database, the blob tree): its own user's only, whatever the
process umask, because they hold mail, password hashes and token hashes."""

from __future__ import annotations

import os
from pathlib import Path

#: Mode of every file the store creates; SQLite gives its ``-wal`` and ``-shm`` files the database file's mode.
FILE_MODE = 0o600
#: Mode of every directory the store creates.
DIR_MODE = 0o700


def make_private_dirs(path: Path) -> None:
    """``path`` and its missing parents, each one created here mode ``DIR_MODE``; existing ones keep their mode."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile, and its mode is that process's business
        # The umask only takes bits away: the chmod restores owner rights a strict umask removed.
        os.chmod(directory, DIR_MODE)


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode ``FILE_MODE`` unless it exists; whether this call created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        return False
    try:
        # Exactly ``FILE_MODE``, not less: a umask without owner write would leave a database SQLite cannot write.
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return True
