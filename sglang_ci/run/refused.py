"""The results of units that did not run, written by one writer (``write_not_run``) with
the provenance of the environment the run was given:

- refused before they started (too few GPUs): `error` / `GPU shortage`, exit 3, as README's
  table says, on every route (`job`, `run --stage`, the nox sessions), so the merged report
  says why instead of "missing result". A refusal starts nothing, so it displaces nothing:
  a job folder an earlier run left is kept as it is, and only said;
- skipped by fail-fast: `skipped`, and why;
- spent: a job whose SGLang file used up its time limit in the jobs before it;
- not started in a packed run (run/packed.py): skipped after a failure, or cancelled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sglang_ci.config.model import Job
from sglang_ci.config.schema import FileJob
from sglang_ci.config.text import ATTEMPT
from sglang_ci.outcome.errors import FatalError
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Verdict
from sglang_ci.results.job_folder import claimed, require_writable
from sglang_ci.results.provenance import collect_provenance
from sglang_ci.results.result_file import JobResult, job_dir_name
from sglang_ci.run.console import report, say
from sglang_ci.run.options import RunOptions


def write_not_run(
    out_dir: Path, result: JobResult, verdict: Verdict, provenance: dict[str, Any]
) -> JobResult:
    """``out_dir``/result.json for a unit that did not run, with its verdict."""
    result.provenance = provenance
    result.finish(verdict)
    result.write(out_dir / "result.json")
    return result


def unrun(job: Job | FileJob, engine: str) -> JobResult:
    """The result a unit of a stage that did not run starts from."""
    return JobResult(job.id, job.stage, engine, job.gpus, sglang_suite=job.sglang_suite)


def record_refused(
    jobs: Sequence[Job | FileJob], results: Path, engine: str, error: FatalError,
    env: Mapping[str, str],
) -> None:  # fmt: skip
    """A result with the refusal's kind for each job; best effort: the refusal itself is
    what the caller reports, an unwritable folder must not hide it."""
    try:
        require_writable(results)
    except FatalError:
        return
    provenance = collect_provenance(env)  # which host refused, and what it had
    verdict = Verdict.failure(error.kind or FailureKind.GPU_SHORTAGE, str(error))
    for job in jobs:
        name = job_dir_name(job.id)
        if (results / name).exists() or any(results.glob(f"{name}{ATTEMPT}*")):
            print(f"sglang-ci: {job.id}: refused; the earlier run's files in"
                  f" {results / name} are kept as they were", flush=True)  # fmt: skip
            continue
        with contextlib.suppress(OSError, FatalError), claimed(results, job.id) as out_dir:
            write_not_run(out_dir, unrun(job, engine), verdict, provenance)


def skip_jobs(
    jobs: Sequence[Job | FileJob], options: RunOptions, why: str, env: Mapping[str, str]
) -> list[JobResult]:
    """Result files for jobs that fail-fast left unrun: `skipped`, and why."""
    skipped = []
    provenance = collect_provenance(env)
    for job in jobs:
        with claimed(Path(options.results), job.id, options.keep_earlier) as out_dir:
            result = write_not_run(
                out_dir, unrun(job, options.engine), Verdict.skipped(why), provenance
            )
        say(f"{job.id}: skipped ({why})")
        skipped.append(result)
    return skipped


def spent_job(job: Job, options: RunOptions, limit: float, env: Mapping[str, str]) -> JobResult:
    """A job whose SGLang file used up its time limit in the jobs before it: run_suite
    would have killed the file there, so it fails on the time limit without a launch."""
    why = f"its SGLang file {job.sglang_file} spent its time limit of {limit:.0f} s before it"
    verdict = Verdict.failure(FailureKind.TIME_LIMIT, why)
    with claimed(Path(options.results), job.id, options.keep_earlier) as out_dir:
        result = write_not_run(
            out_dir, unrun(job, options.engine), verdict, collect_provenance(env)
        )
    report(result, out_dir / "result.json")
    return result
