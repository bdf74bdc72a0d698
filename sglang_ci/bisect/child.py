"""Children of the bisect (pip, the job runner), run so that a cancel tears them down.

``subprocess.run`` answers Ctrl-C by SIGKILLing its child, which would leave the job's
servers behind; here the child gets SIGINT, the signal our job runner tears down on, and
is waited for. Only the child we started is signalled, and only while it runs."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GRACE_S = 30.0  # a job's teardown fits well inside (GitHub's own grace is 10 s)


@dataclass(frozen=True)
class Finished:
    code: int
    output: str


def run_child(argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None,
              timeout: float | None = None) -> Finished:  # fmt: skip
    """Run to the end with output to ``log`` (kept: nothing is lost); its tail returned."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        child = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, env=dict(env),
                                 cwd=cwd)  # fmt: skip
        try:
            code = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(child)
            code = 124
        except BaseException:  # Ctrl-C or a signal turned exception: end it, then go on up
            _stop(child)
            raise
    text = log.read_text(encoding="utf-8", errors="replace")
    return Finished(code, "\n".join(text.splitlines()[-20:]))


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:  # ended already: its pid may be someone else's now
        return
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def venv_env(python: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The environment with the bisect venv activated, so ``python3`` (what a registered
    file runs under) and ``pip`` are the venv's."""
    bin_dir = str(python.parent)
    return {
        **env,
        "VIRTUAL_ENV": str(python.parent.parent),
        "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")]),
    }
