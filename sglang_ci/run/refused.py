"""Jobs refused before they started (too few GPUs) still leave a result.json, so the
merged report says why instead of "missing result": `error` / `GPU shortage`, exit 3, as
README's table says, on every route (`job`, `run --stage`, the nox sessions). A refusal
starts nothing, so it displaces nothing: a job folder an earlier run left is kept as it
is, and only said."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from sglang_ci.config.model import Job
from sglang_ci.config.schema import FileJob
from sglang_ci.config.text import ATTEMPT
from sglang_ci.outcome.errors import FatalError
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Verdict
from sglang_ci.results.job_folder import claimed, require_writable
from sglang_ci.results.provenance import collect_provenance
from sglang_ci.results.result_file import JobResult, job_dir_name


def record_refused(
    jobs: Sequence[Job | FileJob], results: Path, engine: str, error: FatalError
) -> None:
    """A skipped result with the refusal's kind for each job; best effort: the refusal
    itself is what the caller reports, an unwritable folder must not hide it."""
    try:
        require_writable(results)
    except FatalError:
        return
    provenance = collect_provenance(os.environ)  # which host refused, and what it had
    for job in jobs:
        name = job_dir_name(job.id)
        if (results / name).exists() or any(results.glob(f"{name}{ATTEMPT}*")):
            print(f"sglang-ci: {job.id}: refused; the earlier run's files in"
                  f" {results / name} are kept as they were", flush=True)  # fmt: skip
            continue
        with contextlib.suppress(OSError, FatalError), claimed(results, job.id) as out_dir:
            result = JobResult(job.id, job.stage, engine, job.gpus)
            result.provenance = provenance
            result.finish(Verdict.failure(error.kind or FailureKind.GPU_SHORTAGE, str(error)))
            result.write(out_dir / "result.json")
