"""What ``report`` takes from history: the evidence lines for a failed job (when a store
exists) and the quarantine notes (when quarantine.toml exists beside stages.toml)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.history.evidence import evidence_lines
from sglang_ci.history.ingest import result_files
from sglang_ci.history.quarantine import in_force, note
from sglang_ci.history.store import open_store, store_path
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
    folders: dict[str, Path] = {}
    for result_path in result_files([folder]):
        try:
            folders[JobResult.load(result_path).job] = result_path.parent
        except (ValueError, TypeError):
            continue  # report's collect says it in one line

    def evidence(result: JobResult) -> list[str]:
        store = open_store(path, create=False)
        try:
            return evidence_lines(result, folders.get(result.job, folder), store)
        finally:
            store.close()

    return evidence


def quarantined_notes(config: str | None, env: Mapping[str, str]) -> dict[str, str]:
    source = Path(config or env.get("SGLANG_CI_CONFIG") or "stages.toml")
    return {job: note(entry) for job, entry in in_force(source).items()}
