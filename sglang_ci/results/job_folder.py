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
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.config.text import ATTEMPT, EARLIER
from sglang_ci.launch.file_locks import try_lock, unlock
from sglang_ci.results.result_file import job_dir_name

KEEP_EARLIER = 3  # earlier-run folders kept per job unless --keep-earlier says otherwise


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
    prefix, stamp = f"{name}{EARLIER}", _stamp(earlier[0])
    # One past the highest number of this stamp, not the first free one: once pruning has
    # deleted the oldest, a reused name would sort as the oldest and be pruned next.
    numbers = [number for taken, number in
               (_earlier_order(p, prefix) for p in results.glob(f"{prefix}{stamp}*"))
               if taken == stamp]  # fmt: skip
    number = max(numbers, default=0) + 1
    target = results / (f"{prefix}{stamp}" + (f"-{number}" if number > 1 else ""))
    target.mkdir()
    for path in earlier:
        path.rename(target / path.name)
    return target


def _earlier_order(path: Path, prefix: str) -> tuple[str, int]:
    """``<job>-earlier-<stamp>[-<n>]`` by time, then by the number that split a stamp."""
    stamp, _, number = path.name[len(prefix) :].partition("-")
    return stamp, int(number) if number.isdigit() else 1


def prune_earlier(results: Path, name: str, keep: int) -> list[Path]:
    """Deletes all but the ``keep`` newest earlier-run folders of a job; returns what went
    (every run would otherwise leave one more: 26 folders after 15 runs)."""
    prefix = f"{name}{EARLIER}"
    earlier = sorted((p for p in results.glob(f"{prefix}*") if p.is_dir()),
                     key=lambda path: _earlier_order(path, prefix))  # fmt: skip
    removed = earlier[: max(0, len(earlier) - keep)]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


@contextlib.contextmanager
def claimed(results: Path, job_id: str, keep_earlier: int = KEEP_EARLIER) -> Iterator[Path]:
    """The job's folder (not yet created), held for this run until the ``with`` ends; the
    earlier run's files moved aside, and only the last ``keep_earlier`` of those kept."""
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
            removed = prune_earlier(results, name, keep_earlier)
            if removed:
                print(f"sglang-ci: {job_id}: deleted {len(removed)} older earlier run(s), keeping"
                      f" the last {keep_earlier} (--keep-earlier): "
                      + ", ".join(p.name for p in removed), flush=True)  # fmt: skip
        yield results / name
    finally:
        unlock(lock, fd)


def is_earlier_run(path: Path, results: Path) -> bool:
    """A file of an earlier run or of an earlier attempt, not this run's final result."""
    return any(EARLIER in part or ATTEMPT in part for part in path.relative_to(results).parts)
