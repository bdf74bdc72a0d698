"""Start a command only once its pid is on record.

A runner killed by ``kill -9`` between starting a server and writing the server's pid
to the run ledger left a server in a session of its own that no cleanup could find (a
null pid). So the child first runs a few lines of Python (the runner's interpreter,
isolated, no site) that wait on a pipe; the runner records the pid and then opens the
gate, and only then does the child ``exec`` the command, keeping its pid and start
time. If the runner dies before it opens the gate, the pipe's write end closes with it,
the child reads end-of-file and exits without running anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

# Run as ``python -I -S -c GATE <fd> <command...>``: argv[1] is the pipe's read end.
GATE = """\
import os, sys
gate = int(sys.argv[1])
opened = os.read(gate, 1) == b"1"
os.close(gate)
if not opened:
    sys.stderr.write("sglang-ci: the runner ended before it recorded this process: not run\\n")
    os._exit(1)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as error:
    sys.stderr.write(f"sglang-ci: cannot run {sys.argv[2]}: {error.strerror}\\n")
    os._exit(127)
"""


def require_executable(program: str, env: Mapping[str, str], cwd: Path | None) -> None:
    """What Popen would raise for a missing program, raised here in the runner: behind
    the gate it would only be an exit code."""
    if os.sep in program:
        found = (cwd or Path.cwd()) / program
        if not os.access(found, os.X_OK):
            raise FileNotFoundError(2, "No such file or directory", program)
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(2, "No such file or directory", program)


def spawn_recorded(
    command: list[str], record: Callable[[int], None], *, env: Mapping[str, str],
    stdout: int | IO[bytes], cwd: Path | None = None,
) -> subprocess.Popen[bytes]:  # fmt: skip
    """``command`` in a session of its own, its stderr with its stdout; ``record(pid)``
    runs before the command does. If ``record`` raises, the command never runs."""
    require_executable(command[0], env, cwd)
    read_end, write_end = os.pipe()
    try:
        try:
            popen = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", GATE, str(read_end), *command],
                pass_fds=(read_end,), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(read_end)
        record(popen.pid)
        os.write(write_end, b"1")
    finally:
        os.close(write_end)  # unopened: the child reads end-of-file and runs nothing
    return popen
