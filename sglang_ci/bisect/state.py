"""The bisect's state file: every install and run so far, written after each one.

The search is a pure function of these records, so ``--resume`` replays them and runs
only what is missing: a cancelled bisect picks up at the run it stopped in. The file is
replaced atomically (a cancel mid-write never leaves half a file) and is the user's
alone, as every state folder of ours."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sglang_ci.bisect.install import Installed
from sglang_ci.bisect.probe import Run
from sglang_ci.config.errors import UsageError

VERSION = 1


@dataclass
class BisectState:
    """What was asked (checked on resume) and what was done."""

    job: str
    good: str
    bad: str
    request: dict[str, Any]
    installs: dict[str, Installed] = field(default_factory=dict)
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def runs_of(self, commit: str) -> list[Run]:
        return self.runs.setdefault(commit, [])

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "job": self.job,
            "good": self.good,
            "bad": self.bad,
            "request": self.request,
            "installs": {sha: asdict(done) for sha, done in self.installs.items()},
            "runs": {sha: [run.to_json() for run in runs] for sha, runs in self.runs.items()},
        }


def save(state: BisectState, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(state.to_json(), handle, indent=1)
    os.replace(partial, path)


def load(path: Path) -> BisectState:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            raise ValueError(f"state version {data.get('version')}, this sglang-ci reads {VERSION}")
        return BisectState(
            data["job"], data["good"], data["bad"], dict(data["request"]),
            {sha: Installed(**done) for sha, done in data["installs"].items()},
            {sha: [Run.from_json(r) for r in runs] for sha, runs in data["runs"].items()},
        )  # fmt: skip
    except FileNotFoundError:
        raise UsageError(f"--resume: no bisect state at {path}; start without --resume") from None
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path}: not a bisect state file ({error}); start a new bisect with"
                         " another --state") from None  # fmt: skip


def check_same(state: BisectState, job: str, good: str, bad: str, path: Path) -> None:
    """A resume continues the same bisect, or refuses: mixing runs of two would lie."""
    if (state.job, state.good, state.bad) != (job, good, bad):
        raise UsageError(f"--resume: {path} is the bisect of {state.job} {state.good[:10]}.."
                         f"{state.bad[:10]}, not this one; give its own --state")  # fmt: skip
