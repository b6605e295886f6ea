"""Reading the small text files a user hands us (the config file, a bundle's manifest.json), defensively.

A path may name anything: a FIFO (opening it for reading would block until a writer comes), `/dev/zero`
(reading it never ends), a huge file, a directory. `read_small_text` opens without blocking, reads only a
regular file, at most `max_bytes` of it, and says in one short clause what was wrong (`ReadRefused`).
"""

from __future__ import annotations

import os
import stat

KIB = 1024
MIB = 1024 * KIB

_KINDS = ((stat.S_ISDIR, "it is a directory"), (stat.S_ISFIFO, "not a regular file (a FIFO)"),
          (stat.S_ISCHR, "not a regular file (a character device)"),
          (stat.S_ISBLK, "not a regular file (a block device)"), (stat.S_ISSOCK, "not a regular file (a socket)"))


class ReadRefused(OSError):
    """A file that was not read; the message is one short clause ('no such file', 'not a regular file (a
    FIFO)', ...), for the caller to put after the path."""


def _size_text(size: int) -> str:
    return f"{size / MIB:g} MiB" if size >= MIB and size % MIB == 0 else f"{size} bytes"


def read_small_bytes(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of the regular file `path`, if it holds at most `max_bytes`; ReadRefused otherwise."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ReadRefused("no such file") from None
    except OSError as exc:
        raise ReadRefused(exc.strerror or str(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        for test, reason in _KINDS:
            if test(mode):
                raise ReadRefused(reason)
        if not stat.S_ISREG(mode):
            raise ReadRefused("not a regular file")
        chunks, total = [], 0
        while total <= max_bytes:  # read to the end rather than trust st_size (the file may be growing)
            chunk = os.read(fd, max_bytes + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except ReadRefused:
        raise
    except OSError as exc:
        raise ReadRefused(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise ReadRefused(f"larger than {_size_text(max_bytes)}: not a file of this kind")
    return b"".join(chunks)


def read_small_text(path: str | os.PathLike[str], max_bytes: int) -> str:
    """`read_small_bytes` decoded as UTF-8; ReadRefused (naming the byte) if it is not UTF-8."""
    data = read_small_bytes(path, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadRefused(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
