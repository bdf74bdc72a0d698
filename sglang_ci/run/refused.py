"""Jobs refused before they started (too few GPUs) still leave a result.json, so the
merged report says "refused (no GPUs)" instead of "missing result"."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from sglang_ci.config.errors import FatalError
from sglang_ci.config.model import Job
from sglang_ci.config.schema import FileJob
from sglang_ci.results.job_folder import claimed, require_writable
from sglang_ci.results.provenance import collect_provenance
from sglang_ci.results.result_file import JobResult, Verdict


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
        with contextlib.suppress(OSError, FatalError), claimed(results, job.id) as out_dir:
            result = JobResult(job.id, job.stage, engine, job.gpus)
            result.provenance = provenance
            result.finish(Verdict.skipped(str(error), error.kind))
            result.write(out_dir / "result.json")
