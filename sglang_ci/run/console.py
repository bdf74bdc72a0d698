"""What the runner says on the console: one ``sglang-ci:`` line per event, flushed at once
(CI logs interleave the servers' output with ours), and the block that ends each job."""

from __future__ import annotations

from pathlib import Path

from sglang_ci.results.result_file import JobResult


def say(message: str) -> None:
    print(f"sglang-ci: {message}", flush=True)


def report(result: JobResult, result_path: Path) -> None:
    """One block per job: the verdict line, then (on failure) what explains it."""
    line = f"{result.job}: {result.status.value}"
    if result.reason:
        line += f": {result.reason}"
    if result.exit_code:
        print(f"sglang-ci: {line}", flush=True)
        if result.diagnostics:
            print(result.diagnostics, flush=True)
    else:
        say(line)
    say(f"result: {result_path}")
