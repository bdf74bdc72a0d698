"""Jobs that reproduce one SGLang test file (``sglang-file``): their order and the one
time limit they share, as run_suite.py @ 6ed5780c4f runs the file.

run_suite gives a FILE one limit (``--timeout-per-file``) and runs ``python3 FILE -f``:
the Gemma4 MTP files launch topk 1 then topk 3 inside that limit, the standalone file its
three backend classes. A shard's files run longest first, ties by name (ci_register.py's
auto_partition sorts by ``-est_time``, then the file). Here a file's jobs stay together,
in their stages.toml order (the file's own), and the later ones get what the earlier
ones left of the limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sglang_ci.config.schema import Config


def file_key(config: Config, unit: str) -> str:
    """The SGLang file a job reproduces, else the unit itself (a file of its own)."""
    job = config.jobs.get(unit)
    return job.sglang_file if job is not None and job.sglang_file else unit


def siblings(config: Config, job_id: str) -> tuple[str, ...]:
    """Every job of the job's stage from the same SGLang file, in file order (itself
    included); just the job when it names no file."""
    job = config.jobs[job_id]
    if not job.sglang_file:
        return (job_id,)
    return tuple(
        other for other in config.stages[job.stage].jobs
        if config.jobs[other].sglang_file == job.sglang_file
    )  # fmt: skip


def sglang_order(config: Config, ids: Sequence[str], seconds: Mapping[str, float]) -> list[str]:
    """The jobs as SGLang's CI runs them: one block per SGLang file (in the file's own
    order), blocks longest first, ties by the file's name; then the registered files,
    also longest first. The sort is stable, so equal blocks keep their given order."""
    blocks: dict[str, list[str]] = {}
    for unit in ids:
        if unit not in config.files:
            job = config.jobs[unit]  # jobs sharing a launch stay together too
            blocks.setdefault(job.sglang_file or job.launch_key, []).append(unit)
    ordered = sorted(blocks.values(), key=lambda block: (
        -sum(seconds[u] for u in block), file_key(config, block[0])))  # fmt: skip
    files = sorted((u for u in ids if u in config.files), key=lambda u: (-seconds[u], u))
    return [*(unit for block in ordered for unit in block), *files]


class FileBudget:
    """What is left of each SGLang file's time limit while its jobs run, one after the
    other (a run owns one; nothing global)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._spent: dict[str, float] = {}

    def left(self, job_id: str, limit: float) -> float:
        """Seconds the job may still take: its file's limit less what its earlier
        siblings used."""
        return limit - self._spent.get(file_key(self._config, job_id), 0.0)

    def spend(self, job_ids: Sequence[str], seconds: float) -> None:
        key = file_key(self._config, job_ids[0])
        self._spent[key] = self._spent.get(key, 0.0) + seconds
