"""A stage's ``registered = { suite = "...", checkout = "..." }``: the files SGLang
registered for one of its suites become the stage's file jobs when stages.toml loads.

The checkout is read as ``registered.py`` reads it (by AST, nothing imported); its
enabled files for the suite, in run_suite.py's order, are the stage's files, each with its
registered est_time. Disabled files are left out and counted. A checkout path is
relative to stages.toml's folder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from sglang_ci.config.errors import ConfigError, UsageError
from sglang_ci.config.registered import Registry
from sglang_ci.config.registry_cache import cached_registry
from sglang_ci.config.schema import FileJob, RegisteredSource, Stage
from sglang_ci.config.toml_reader import Table

REGISTERED = "registered"
_KEYS = ("suite", "checkout", "nightly")


def read_registered(
    stage_table: Table,
    stage: Stage,
    source_dir: Path,
    registries: dict[Path, Registry],
    cache: Path | None = None,
) -> tuple[RegisteredSource, list[FileJob]] | None:
    """The stage's registered source and its file jobs; None without ``registered``.
    ``registries`` keeps each checkout read once per load (several stages may share one);
    ``cache`` keeps it between loads (registry_cache)."""
    if REGISTERED not in stage_table:
        return None
    table = stage_table.child(REGISTERED, allowed=_KEYS, required=("suite", "checkout"))
    suite = table.need("suite", str)
    nightly = table.get("nightly", bool, False)
    checkout = Path(table.need("checkout", str)).expanduser()
    checkout = (checkout if checkout.is_absolute() else source_dir / checkout).resolve()
    try:
        if checkout not in registries:
            registries[checkout] = cached_registry(checkout, cache)
    except (UsageError, ConfigError) as error:
        table.fail(str(error), "checkout")
    try:
        enabled, disabled = registries[checkout].select(suite, nightly=nightly)
    except UsageError as error:
        table.fail(str(error), "suite")
    if not enabled:
        table.fail(f"every file of suite {suite!r} is registered disabled ({len(disabled)});"
                   " the stage would run nothing", "suite")  # fmt: skip
    needed = runner_gpus(suite)
    if needed is not None and needed > stage.gpus:
        table.fail(f"suite {suite!r} runs on {needed}-GPU runners but the stage has"
                   f" {stage.gpus} GPU{'s' if stage.gpus != 1 else ''}: raise its gpus or pick"
                   " another suite", "suite")  # fmt: skip
    files = [FileJob(r.file, stage.name, suite, checkout, r.est_time, stage.gpus) for r in enabled]
    return RegisteredSource(suite, checkout, nightly, len(disabled)), files


# SGLang names a suite after its runner: "base-b-test-2-gpu-large" (runner_config
# "2-gpu-large"), "nightly-8-gpu-h200"; the number before "-gpu" is the GPUs it needs.
_RUNNER_GPUS = re.compile(r"(?:^|-)([0-9]+)-gpu(?:-|$)")


def runner_gpus(suite: str) -> int | None:
    match = _RUNNER_GPUS.search(suite)
    return int(match.group(1)) if match else None


def check_files_once(files: Mapping[str, FileJob], new: list[FileJob], source: str) -> None:
    """A file runs in one stage only: its id is its nox session and its result folder."""
    for file in new:
        if file.id in files:
            raise ConfigError(
                f"{source}: stages.{file.stage}.{REGISTERED}: {file.id} is also a file of"
                f" stage {files[file.id].stage}; a file belongs to one stage"
            )
