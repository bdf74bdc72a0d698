"""A stage's registered files in the stage's pipeline: each runs as ``run-file`` runs it
(run_suite's command, its sweep), under the stage's time limit, attempted as a job is
(``attempts``) but with SGLang's retry rule for files: decided on the file's output.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sglang_ci.config.schema import FileJob
from sglang_ci.outcome.retry import classify_file
from sglang_ci.plan.policy import RunPolicy
from sglang_ci.results.job_folder import KEEP_EARLIER, claimed, require_writable
from sglang_ci.results.result_file import JobResult
from sglang_ci.run.attempts import attempted
from sglang_ci.run.job_runner import say
from sglang_ci.run.registered_file import LOG_NAME, FileRequest, run_file_in, summary


def _output(folder: Path) -> str:
    try:
        return (folder / LOG_NAME).read_text(errors="replace")
    except OSError:
        return ""


def run_file_job(
    file: FileJob, policy: RunPolicy, results: Path, env: Mapping[str, str],
    keep_earlier: int = KEEP_EARLIER,
) -> JobResult:  # fmt: skip
    request = FileRequest(file.checkout, file.id, policy.time_limit, results, file.suite,
                          stage=file.stage)  # fmt: skip
    require_writable(results)

    with claimed(results, file.id, keep_earlier) as folder:

        def attempt_once() -> JobResult:
            result = run_file_in(request, env, folder)
            say(summary(result))
            return result

        # SGLang decides a file's retry on its output (run_unittest_files).
        return attempted(file.id, folder, policy, attempt_once,
                         lambda done: classify_file(done.verdict, _output(folder)))  # fmt: skip
