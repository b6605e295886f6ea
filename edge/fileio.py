"""Atomic writes: a reader sees the old file (or folder) or the new one, never half of one.

Everything is written under a temp name in the destination's own folder (a rename is atomic only within one
file system), flushed to disk, then renamed into place. Files and folders get the modes a plain `open()` /
`mkdir()` would give them (0666 / 0777 less the umask: usually 0644 / 0755), not `tempfile`'s owner-only
0600 / 0700: bundles, datasets and reports are read by other users (the edge service, a CI job).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)


def temp_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """A fresh name beside `path` (hidden, unique to this process and call), ending in `suffix`."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def _fsync_dir(folder: Path) -> None:
    # The rename itself lives in the folder's entry table: without this a power cut may forget it.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory; the data itself is already on disk
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder, fsync and a rename (`atomic_path`)."""
    with atomic_path(path) as tmp:
        # O_EXCL: never write through a stale link or someone else's file; 0o666 & ~umask like open().
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """`write_bytes_atomic` of `text` in UTF-8."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temp path beside `path` for a writer that wants a file name (OpenCV, matplotlib); renamed over `path`
    when the block ends without an exception, removed otherwise. `suffix` keeps a writer's format choice."""
    path = Path(path)
    tmp = temp_path(path, suffix)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def make_temp_dir(final: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """A new empty folder beside `final` (its parent must exist), with a plain mkdir's mode, to fill and then
    move into place with `replace_dir`."""
    tmp = temp_path(final, suffix)
    tmp.mkdir(0o777)
    return tmp


def replace_dir(tmp: str | os.PathLike[str], final: str | os.PathLike[str]) -> None:
    """Move the finished folder `tmp` to `final`, replacing whatever is there (a folder, a file or a link).

    The old entry is renamed aside first and removed last, so `final` is never missing for longer than
    between two renames, and an error leaves the old one in place.
    """
    tmp, final = Path(tmp), Path(final)
    if final.exists() or final.is_symlink():
        old = temp_path(final, ".old")
        os.rename(final, old)
        try:
            os.rename(tmp, final)
        except BaseException:
            os.rename(old, final)
            raise
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.rename(tmp, final)
    _fsync_dir(final.parent)


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temp folder beside `final` to fill; it replaces `final` when the block ends without an exception and
    is removed otherwise."""
    tmp = make_temp_dir(final, suffix)
    try:
        yield tmp
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
