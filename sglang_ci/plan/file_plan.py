"""The dry run of a registered SGLang file: the exact command run_suite.py gives it, where
it runs, what its environment gets, its time limit, and what the runner does around it.
"""

from __future__ import annotations

import shlex

from sglang_ci.config.registered_env import ci_env, file_command, workdir
from sglang_ci.config.schema import FileJob, Stage
from sglang_ci.config.text import number


def render_file_plan(file: FileJob, stage: Stage, time_limit: float) -> str:
    command = file_command(file.checkout / file.id)
    # What the stage workflow and run_suite add to an empty environment; on a runner, a
    # variable it already has wins (registered_env.ci_env).
    added = ci_env(file.suite, {})
    return "\n".join([
        file.id,
        f"  stage {stage.name} (runner {stage.runner}), registered for SGLang's suite"
        f" {file.suite}, est {number(file.est_time)} s; its own session:"
        f' nox -s "{file.session}"',
        "",
        "run (as SGLang's test/run_suite.py runs it; the file launches its own servers):",
        f"  cd {shlex.quote(str(workdir(file.checkout)))} && {shlex.join(command)}",
        "    env added: " + " ".join(f"{k}={shlex.quote(v)}" for k, v in added.items()),
        f"  time limit: {number(time_limit)} s (run_suite's --timeout-per-file), then SIGTERM"
        " to its tree, SIGKILL after the grace period",
        "",
        "around it: before, the GPUs idle (NVML); after (passed, failed, timed out or"
        " cancelled), every process it left ended (its tree, its session, orphans"
        " re-parented to the runner), the ports it opened free, its GPU memory released",
        "",
        "pass when: exit code 0, run_suite's verdict; what it left and the sweep ended is"
        " recorded and named in the report, and only a process that cannot be ended or a"
        " port or GPU memory still held fails it (exit 6); result.json counts its unittest"
        " or pytest results from its output",
    ])  # fmt: skip
