"""The content-addressed blob store: durable writes, write-once content, safe paths."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest

from store.blobs import BlobStore
from store.errors import BlobNotFoundError, StoreUnavailableError


def test_put_returns_sha256_and_get_reads_it_back(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.open()
    data = b"From: a@example.com\r\n\r\nhello\r\n"
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert blobs.get(digest) == data
    assert blobs.path_for(digest) == tmp_path / digest[:2] / digest[2:4] / digest
    assert not list((tmp_path / "tmp").iterdir()), "temp file left behind"


def test_put_fsyncs_the_file_and_every_new_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = BlobStore(tmp_path)
    blobs.open()
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("dir" if stat.S_ISDIR(mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    blobs.put(b"first message")
    # the file itself, its directory (the rename), and the two fan-out directories just created
    assert synced == ["file", "dir", "dir", "dir"]


def test_same_content_is_stored_once(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.open()
    a = blobs.put(b"same bytes")
    mtime = blobs.path_for(a).stat().st_mtime_ns
    assert blobs.put(b"same bytes") == a
    assert blobs.path_for(a).stat().st_mtime_ns == mtime


def test_failed_write_leaves_no_temp_file_and_raises_unavailable(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.open()
    digest = hashlib.sha256(b"x").hexdigest()
    (tmp_path / digest[:2]).write_bytes(b"a file where a directory must go")
    with pytest.raises(StoreUnavailableError, match="cannot write blob"):
        blobs.put(b"x")
    assert not list((tmp_path / "tmp").iterdir())


def test_missing_blob_and_bad_hash(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    with pytest.raises(BlobNotFoundError):
        blobs.get("0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        blobs.path_for("../../etc/passwd")


def test_open_reports_an_unusable_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreUnavailableError, match="blob directory"):
        BlobStore(tmp_path / "file" / "blobs").open()


def _names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_blob_is_written_unnamed_and_linked_in_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = BlobStore(tmp_path)
    blobs.open()
    seen: list[list[str]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            seen.append(_names(tmp_path))  # what a crash at the file's fsync would leave
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    digest = blobs.put(b"message bytes")
    # While its bytes were synced, no name existed; afterwards the final name only
    assert seen == [[]]
    assert _names(tmp_path) == [f"{digest[:2]}/{digest[2:4]}/{digest}"]


def test_without_o_tmpfile_a_temp_file_is_renamed_into_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = BlobStore(tmp_path)
    blobs.open()
    real_open = os.open

    def no_tmpfile(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", no_tmpfile)
    digest = blobs.put(b"message bytes")
    assert blobs.get(digest) == b"message bytes"
    assert _names(tmp_path) == [f"{digest[:2]}/{digest[2:4]}/{digest}"]
