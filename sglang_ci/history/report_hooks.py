"""What ``report`` takes from history: the evidence lines for a failed job (when a store
exists) and the quarantine notes (when quarantine.toml exists beside stages.toml)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import config_path
from sglang_ci.history.evidence import evidence_lines
from sglang_ci.history.ingest import result_files
from sglang_ci.history.quarantine import in_force, note
from sglang_ci.history.store import open_store, store_path
from sglang_ci.results.job_folder import is_earlier_run
from sglang_ci.results.report import Evidence
from sglang_ci.results.result_file import JobResult


def evidence_for(folder: Path, db: str | None, env: Mapping[str, str]) -> Evidence | None:
    path = store_path(db, env)
    if not path.is_file() or not folder.is_dir():
        return None
    try:  # a store that cannot be read costs the evidence, never the report
        open_store(path, create=False).close()
    except UsageError as error:
        print(f"sglang-ci: warning: {error}; the report goes on without history evidence",
              file=sys.stderr)  # fmt: skip
        return None

    @functools.cache
    def folders() -> dict[str, Path]:
        """Each job's result folder (its per-question records), read at the first failed
        job that asks: a report with no failure below its threshold reads nothing more."""
        found: dict[str, Path] = {}
        for result_path in result_files([folder]):
            if is_earlier_run(result_path, folder):
                continue  # an earlier run's records are not this result's, as collect skips it
            try:
                found[JobResult.load(result_path).job] = result_path.parent
            except (ValueError, TypeError):
                continue  # report's collect says it in one line
        return found

    def evidence(result: JobResult) -> list[str]:
        with closing(open_store(path, create=False)) as store:
            return evidence_lines(result, folders().get(result.job, folder), store)

    return evidence


def quarantined_notes(config: str | None, env: Mapping[str, str]) -> dict[str, str]:
    source = config_path(config, env, Path.cwd())  # the stages.toml every command reads
    return {job: note(entry) for job, entry in in_force(source).items()}
