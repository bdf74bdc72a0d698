"""A stage's registered files in the stage's pipeline: each runs as ``run-file`` runs it
(run_suite's command, its sweep), under the stage's time limit, with SGLang's retry rule
for files when retries are on (decided on the file's output, ci_utils.py), every attempt
recorded in result.json and its folder kept.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from sglang_ci.config.schema import FileJob
from sglang_ci.plan.policy import RunPolicy
from sglang_ci.results.job_folder import claimed, require_writable
from sglang_ci.results.result_file import JobResult, Status
from sglang_ci.run.job_runner import say
from sglang_ci.run.registered_file import LOG_NAME, FileRequest, run_file_in, summary
from sglang_ci.run.retry import attempt_row, classify_file


def _output(folder: Path) -> str:
    try:
        return (folder / LOG_NAME).read_text(errors="replace")
    except OSError:
        return ""


def run_file_job(
    file: FileJob, policy: RunPolicy, results: Path, env: Mapping[str, str]
) -> JobResult:
    request = FileRequest(file.checkout, file.id, policy.time_limit, results, file.suite,
                          stage=file.stage)  # fmt: skip
    require_writable(results)
    with claimed(results, file.id) as folder:
        earlier: list[dict[str, object]] = []
        for attempt in range(1, policy.attempts + 1):
            result = run_file_in(request, env, folder)
            say(summary(result))
            retriable, why = classify_file(result, _output(folder))
            row = attempt_row(attempt, result, retriable, why)
            if result.status is Status.PASSED or not retriable or attempt == policy.attempts:
                break
            earlier.append(row)
            kept = folder.with_name(f"{folder.name}-attempt-{attempt}")
            folder.rename(kept)  # the failed attempt's output and result stay on disk
            say(f"{file.id}: attempt {attempt} {result.status} ({why}); retrying in"
                f" {policy.retry_wait:g} s (its files: {kept})")  # fmt: skip
            time.sleep(policy.retry_wait)
        result.attempts = [*earlier, row]
        result.write(folder / "result.json")
    return result
