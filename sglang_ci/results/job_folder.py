"""A job's folder under --results: this run's alone, and clean when the run starts.

Two runs of one job on one machine would write the same result.json, logs and records:
the second is refused at once with one line (a lock held for the whole job; the kernel
drops it if the runner dies). Whatever an earlier run left (its folder and its attempt
folders) is moved aside into ``<job>-earlier-<when>/``, never deleted, so a passing
junit.xml of yesterday cannot sit beside today's error.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.config.text import ATTEMPT, EARLIER
from sglang_ci.launch.file_locks import try_lock, unlock
from sglang_ci.results.result_file import job_dir_name


def require_writable(results: Path) -> None:
    """--results names a folder this user can write (made if missing), or one line."""
    try:
        results.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--results {results}: {error.strerror}; name a writable folder") from None
    if not os.access(results, os.W_OK | os.X_OK):
        raise UsageError(f"--results {results}: not writable by this user; name another folder")


def _stamp(path: Path) -> str:
    when = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    return when.strftime("%Y%m%dT%H%M%SZ")


def move_aside(results: Path, name: str) -> Path | None:
    """The folders an earlier run of this job left, moved into one folder; its path."""
    earlier = [p for p in (results / name, *sorted(results.glob(f"{name}{ATTEMPT}*"))) if
               p.exists()]  # fmt: skip
    if not earlier:
        return None
    base = results / f"{name}{EARLIER}{_stamp(earlier[0])}"
    target, number = base, 1
    while target.exists():
        number += 1
        target = base.with_name(f"{base.name}-{number}")
    target.mkdir()
    for path in earlier:
        path.rename(target / path.name)
    return target


@contextlib.contextmanager
def claimed(results: Path, job_id: str) -> Iterator[Path]:
    """The job's folder (not yet created), held for this run until the ``with`` ends."""
    name = job_dir_name(job_id)
    lock = results / f".{name}.lock"
    fd = try_lock(lock)
    if fd is None:
        raise UsageError(
            f"{job_id}: another run of this job is writing {results / name} right now; wait"
            " for it, or give this run a folder of its own with --results DIR"
        )
    try:
        moved = move_aside(results, name)
        if moved is not None:
            print(f"sglang-ci: {job_id}: an earlier run's files moved to {moved}", flush=True)
        yield results / name
    finally:
        unlock(lock, fd)


def is_earlier_run(path: Path, results: Path) -> bool:
    """A file of an earlier run or of an earlier attempt, not this run's final result."""
    return any(EARLIER in part or ATTEMPT in part for part in path.relative_to(results).parts)
