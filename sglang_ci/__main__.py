"""Entry point: the only place that turns a result into a process exit."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def not_installed(error: ModuleNotFoundError) -> str | None:
    """One line with the fix when a third-party module the runner needs is missing: the
    project is not installed in this interpreter (a job session runs the environment's own
    ``python``, which finds the package in the checkout but not its dependencies). None
    for a module of the runner itself, a real fault to show in full."""
    if not error.name or error.name.split(".")[0] == "sglang_ci":
        return None
    root = Path(__file__).resolve().parent.parent
    return (
        f"sglang-ci: error: {sys.executable} cannot import {error.name!r}: sglang-ci is not"
        f" installed in this environment; install it with:"
        f" {sys.executable} -m pip install -e {root}"
    )


def main() -> None:
    try:
        # Imported here, inside the check: the CLI's own imports need third-party modules
        # (tomli on Python 3.10), and their absence must be the one line below.
        from sglang_ci.cli import main_exit_code

        code = main_exit_code()
    except BrokenPipeError:
        # The reader went away (`list | head`): end quietly, as a command killed by SIGPIPE
        # does; stdout goes to /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + signal.SIGPIPE
    except ModuleNotFoundError as error:
        line = not_installed(error)
        if line is None:
            raise
        print(line, file=sys.stderr)
        code = 2  # a setup fault, as a configuration error is: nothing ran
    sys.exit(code)


if __name__ == "__main__":
    main()
