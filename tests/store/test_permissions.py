"""What the store writes under ``var/`` is its own user's only: files 0600, directories 0700, whatever the umask."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import Store
from store.files import create_private_file, make_private_dirs
from web.app import create_app, default_secret_path


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(params=[0o022, 0o000, 0o277], ids=["umask-022", "umask-000", "umask-277"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process umask for this test (0o277 would leave the owner unable to write, without the chmods)."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def fresh_store(tmp_path: Path) -> Store:
    # Blob files for every size, so that the blob tree is written at all.
    store = Store(f"sqlite:///{tmp_path / 'var' / 'mailassist.db'}", tmp_path / "var" / "blobs", inline_max=0)
    store.open()
    return store


def test_a_fresh_sqlite_store_is_private(tmp_path: Path, umask: int) -> None:
    # Given a store opened where nothing exists yet
    store = fresh_store(tmp_path)
    try:
        # When it writes the database (WAL mode) and a blob
        digest = store.blobs.put(b"Subject: private\r\n\r\nmail")
        store.ping()
        var = tmp_path / "var"

        # Then the database and its WAL companions are 0600, and every directory it made 0700
        assert mode(var / "mailassist.db") == 0o600
        assert mode(var / "mailassist.db-wal") == 0o600
        assert mode(var / "mailassist.db-shm") == 0o600
        blob = store.blobs.path_for(digest)
        assert mode(blob) == 0o600
        for directory in (var, var / "blobs", var / "blobs" / "tmp", blob.parent, blob.parent.parent):
            assert mode(directory) == 0o700, directory
    finally:
        store.close()


def test_blobs_written_through_a_renamed_temp_file_are_private(
    tmp_path: Path, umask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = fresh_store(tmp_path)
    real_open = os.open

    def no_tmpfile(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    try:
        monkeypatch.setattr(os, "open", no_tmpfile)
        digest = store.blobs.put(b"renamed into place")
        assert mode(store.blobs.path_for(digest)) == 0o600
        assert mode(store.blobs.path_for(digest).parent) == 0o700
    finally:
        store.close()


def test_the_generated_web_secret_is_private(tmp_path: Path) -> None:
    store = fresh_store(tmp_path)
    try:
        create_app(store)
        assert mode(default_secret_path(store)) == 0o600
    finally:
        store.close()


def test_what_exists_already_keeps_its_mode(tmp_path: Path) -> None:
    # Given a directory and a database file an administrator made, with modes of their choosing
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)
    db = shared / "mailassist.db"
    db.touch()
    db.chmod(0o640)

    # When the store makes its directories and file there
    make_private_dirs(shared / "blobs" / "tmp")
    assert not create_private_file(db)

    # Then only what it created is private
    assert mode(shared) == 0o750
    assert mode(db) == 0o640
    assert mode(shared / "blobs") == 0o700
    assert mode(shared / "blobs" / "tmp") == 0o700


def test_a_new_private_file_is_empty_and_created_once(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    assert create_private_file(path)
    assert path.read_bytes() == b""
    assert mode(path) == 0o600
    assert not create_private_file(path)
