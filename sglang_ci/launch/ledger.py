"""The run ledger: what a runner started, on disk, so that a runner killed by ``kill -9``
leaves nothing that the next run (or ``python -m sglang_ci cleanup``) cannot end.

Each launch writes one JSON file in a folder shared by every sglang-ci process on the
host: the runner's pid and start time, the jobs and their result.json paths, and for
every process it starts (and every helper its walker sees) the pid, the process start
time, the process group and session, the role and the ports. The entry for a server is
written before the server starts (its ports and role) and completed right after (its
pid). A clean teardown removes the file.

``cleanup`` acts only on files whose runner is gone, and only on processes whose pid and
start time match an entry (a reused pid is a stranger), plus the members of the sessions
our servers led: a session cannot be joined from outside, so its members are ours. It
matters where cmdline and environment cannot be trusted: SGLang's router renames itself
``sglang::router`` and drops the environment a CI step would look for.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from sglang_ci.config.errors import FatalError

LEDGER_ENV = "SGLANG_CI_LEDGER"
START_TIME_SLACK_S = 0.05  # psutil's create_time is rounded to the clock tick


def ledger_dir() -> Path:
    path = Path(os.environ.get(LEDGER_ENV) or Path(tempfile.gettempdir()) / "sglang-ci-ledger")
    try:
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o1777)  # like /tmp: every user's runs keep their files here
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

    def __post_init__(self) -> None:
        self.path = ledger_dir() / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.json"

    def write(self) -> None:
        runner = {"pid": os.getpid(), "create_time": start_time(os.getpid())}
        data = {"runner": runner, "jobs": self.jobs, "results": self.results,
                "entries": [asdict(entry) for entry in self.entries]}  # fmt: skip
        handle, temporary = tempfile.mkstemp(prefix=".ledger.", dir=self.path.parent)
        with os.fdopen(handle, "w") as out:
            json.dump(data, out)
        os.replace(temporary, self.path)

    def add(self, role: str, job: str, ports: list[int]) -> Entry:
        entry = Entry(role, job, ports)
        self.entries.append(entry)
        self.write()
        return entry

    def started(self, entry: Entry, pid: int) -> None:
        entry.pid, entry.create_time = pid, start_time(pid)
        with contextlib.suppress(OSError):
            entry.pgid, entry.sid = os.getpgid(pid), os.getsid(pid)
        self.write()

    def seen(self, role: str, job: str, pid: int) -> None:
        """A helper of one of our servers, as the process walker found it."""
        entry = Entry(f"{role} helper", job, [])
        self.entries.append(entry)
        self.started(entry, pid)

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def alive(pid: int | None, created: float | None) -> psutil.Process | None:
    """The process with this pid and start time, if it still runs (never a stranger)."""
    if pid is None or created is None:
        return None
    try:
        process = psutil.Process(pid)
        same = abs(process.create_time() - created) <= START_TIME_SLACK_S
        return process if same and process.status() != psutil.STATUS_ZOMBIE else None
    except psutil.Error:
        return None
