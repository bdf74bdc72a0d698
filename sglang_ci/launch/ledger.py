"""The run ledger: what a runner started, on disk, so that a runner killed by ``kill -9``
leaves nothing that the next run (or ``python -m sglang_ci cleanup``) cannot end.

Each launch writes one JSON file in a folder private to the user (0700, owned by them:
a folder others could write to would let anyone name a victim for ``cleanup``): the
runner's pid and start time, the jobs and their result.json paths (absolute: cleanup may
run from another folder), and for every process it starts (and every helper its walker
sees, and every orphan it adopts) the pid, the process start time, the process group and
session, the role and the ports. The entry for a server is written before the server
starts (its ports and role) and its pid before the server's command runs (launch.
exec_gate). A clean teardown removes the file.

``cleanup`` acts only on files whose runner is gone, and only on processes of this user
whose pid and start time match an entry (a reused pid is a stranger), plus the members
of the sessions our servers led: a session cannot be joined from outside, so its members
are ours. It matters where cmdline and environment cannot be trusted: SGLang's router
renames itself ``sglang::router`` and drops the environment a CI step would look for.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from sglang_ci.config.errors import UsageError
from sglang_ci.outcome.errors import FatalError

LEDGER_ENV = "SGLANG_CI_LEDGER"
START_TIME_SLACK_S = 0.05  # psutil's create_time is rounded to the clock tick


def ledger_dir() -> Path:
    """The user's own ledger folder: created 0700, a looser one of theirs tightened, one
    that is not theirs (or not a folder: a link) refused in one line."""
    chosen = os.environ.get(LEDGER_ENV)
    default = Path(tempfile.gettempdir()) / f"sglang-ci-ledger-{os.getuid()}"
    path = Path(chosen) if chosen else default
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise UsageError(f"run ledger folder {path} is not a folder (a link?); set"
                             f" {LEDGER_ENV} to a folder of your own")  # fmt: skip
        if info.st_uid != os.getuid():
            raise UsageError(f"run ledger folder {path} belongs to uid {info.st_uid}, not to"
                             f" this user (uid {os.getuid()}): it must be private; set"
                             f" {LEDGER_ENV} to a folder of your own")  # fmt: skip
        if stat.S_IMODE(info.st_mode) != 0o700:
            path.chmod(0o700)
    except OSError as error:
        raise FatalError(f"run ledger folder {path}: {error.strerror}; set {LEDGER_ENV}") from None
    return path


def start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


@dataclass
class Entry:
    role: str
    job: str
    ports: list[int]
    pid: int | None = None  # None: written before the process started
    create_time: float | None = None
    pgid: int | None = None
    sid: int | None = None


@dataclass
class RunLedger:
    """One launch's file; ``add``/``started`` around each spawn, ``close`` after teardown."""

    jobs: list[str]
    results: list[str]
    entries: list[Entry] = field(default_factory=list)
    path: Path = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.results = [os.path.abspath(result) for result in self.results]
        self.path = ledger_dir() / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.json"

    def pids(self) -> set[int]:
        """Every process on record (the runner's own children among them)."""
        with self._lock:
            return {entry.pid for entry in self.entries if entry.pid is not None}

    def write(self) -> None:
        runner = {"pid": os.getpid(), "create_time": start_time(os.getpid())}
        data = {"runner": runner, "jobs": self.jobs, "results": self.results,
                "entries": [asdict(entry) for entry in self.entries]}  # fmt: skip
        handle, temporary = tempfile.mkstemp(prefix=".ledger.", dir=self.path.parent)
        with os.fdopen(handle, "w") as out:
            json.dump(data, out)
        os.replace(temporary, self.path)

    # Walker threads (helpers, adopted orphans) and the launching thread all record:
    # one at a time, so that no write replaces the file with a list missing an entry.
    def add(self, role: str, job: str, ports: list[int]) -> Entry:
        entry = Entry(role, job, ports)
        with self._lock:
            self.entries.append(entry)
            self.write()
        return entry

    def started(self, entry: Entry, pid: int) -> None:
        with self._lock:
            entry.pid, entry.create_time = pid, start_time(pid)
            with contextlib.suppress(OSError):
                entry.pgid, entry.sid = os.getpgid(pid), os.getsid(pid)
            self.write()

    def seen(self, role: str, job: str, pid: int) -> None:
        """A process we did not start ourselves, under the role its finder names: a
        server's helper ("server helper") as the process walker found it, or an orphan the
        runner adopted ("adopted")."""
        entry = Entry(role, job, [])
        with self._lock:
            self.entries.append(entry)
        self.started(entry, pid)

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def ours(process: psutil.Process) -> bool:
    """Whether the process runs as this user (real uid): no other user's process is ours
    to signal, whatever a ledger says."""
    try:
        return bool(process.uids().real == os.getuid())
    except psutil.Error:
        return False


def alive(pid: int | None, created: float | None) -> psutil.Process | None:
    """The process with this pid and start time, if it still runs as this user (never a
    stranger)."""
    if pid is None or created is None:
        return None
    try:
        process = psutil.Process(pid)
        same = abs(process.create_time() - created) <= START_TIME_SLACK_S
        running = process.status() != psutil.STATUS_ZOMBIE
        return process if same and running and ours(process) else None
    except psutil.Error:
        return None
