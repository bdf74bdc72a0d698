"""Lock files shared by every sglang-ci process on a host, whichever user runs it.

A lock is an exclusive ``flock`` on a file in a shared folder: the kernel releases it when
its holder dies, even by ``kill -9``. The file itself is removed by its holder on release,
so the folder does not fill with one file per port ever used; a locker that opened the
file just before its removal notices (the path no longer names the file it locked) and
takes the new file instead. Files are made readable and writable by everyone whatever the
umask, so a port one user's job locked once can be locked by another user later.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

ATTEMPTS = 3  # a lost race with a releaser is retried; three losses in a row is "busy"


def try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path``; None when another process holds it."""
    for _ in range(ATTEMPTS):
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        except PermissionError:
            return None  # another user's file we cannot open: treat it as theirs
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            with contextlib.suppress(PermissionError):  # only the file's owner may chmod
                os.fchmod(fd, 0o666)  # the umask must not lock other users out
            return fd
        os.close(fd)  # its holder removed it after we opened it: lock the new file
    return None


def unlock(path: Path, fd: int) -> None:
    """Remove the file while still holding its lock, then release the lock."""
    with contextlib.suppress(OSError):  # another user's file in a sticky folder stays
        os.unlink(path)
    with contextlib.suppress(OSError):
        os.close(fd)
