"""Port lock files: removed on release, usable by other users, safe against the race
between a releaser removing the file and a locker that had just opened it."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from sglang_ci.launch.file_locks import try_lock, unlock
from sglang_ci.launch.ports import PortLease, lock_dir


@pytest.fixture(autouse=True)
def _own_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SGLANG_CI_PORT_LOCKS", str(tmp_path / "locks"))


def test_released_ports_leave_no_lock_files() -> None:
    with PortLease() as lease:
        for _ in range(5):
            lease.take()
        assert len(list(lock_dir().glob("*.lock"))) == 5
    assert list(lock_dir().glob("*.lock")) == []


def test_lock_files_are_writable_by_everyone_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        fd = try_lock(tmp_path / "1.lock")
        assert fd is not None
        mode = stat.S_IMODE(os.stat(tmp_path / "1.lock").st_mode)
        assert mode == 0o666, oct(mode)
        unlock(tmp_path / "1.lock", fd)
    finally:
        os.umask(previous)


def test_a_held_lock_is_refused_and_a_released_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "2.lock"
    first = try_lock(path)
    assert first is not None
    assert try_lock(path) is None  # flock is per open file: a second open is refused
    unlock(path, first)
    again = try_lock(path)
    assert again is not None
    unlock(path, again)


def test_a_file_removed_while_being_locked_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The releaser removes the file between our open and our flock: the lock we got is on
    a file nobody else can see, so try_lock takes the file now at the path instead."""
    path = tmp_path / "3.lock"
    real_flock = fcntl.flock
    calls = []

    def flock_after_removal(fd: int, operation: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            os.unlink(path)  # as a releaser would, right after our open
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_removal)  # file_locks calls fcntl.flock
    fd = try_lock(path)
    assert fd is not None and len(calls) == 2
    assert os.fstat(fd).st_ino == os.stat(path).st_ino  # the lock is on the visible file
    unlock(path, fd)
