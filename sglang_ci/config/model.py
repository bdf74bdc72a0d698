"""stages.toml read into frozen dataclasses, with every rule checked once, up front.

The entry to the config package: which file (``config_path``), reading it with its
baselines (``load_config``) and putting the parts together (``parse_config``). The parts
live in their own modules: the dataclasses in ``schema``, table reading in ``reader``, job
expansion in ``jobs``, cross-table rules in ``rules``.

The reader takes ``env`` instead of reading ``os.environ`` so tests and the noxfile decide
which file is read. Each rule fails with one line naming the key path; nothing is half
loaded: either the whole config is valid or a ConfigError says where it is not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sglang_ci.config.baselines import BASELINES_FILE, Baseline, check_known, load_baselines
from sglang_ci.config.errors import ConfigError
from sglang_ci.config.jobs import read_stage_jobs
from sglang_ci.config.reader import ROOT_KEYS, read_models, read_suites, section
from sglang_ci.config.registered import Registry
from sglang_ci.config.registered_stage import check_files_once, read_registered
from sglang_ci.config.registry_cache import registry_cache_dir
from sglang_ci.config.releases import (
    RENAMED_FLAGS,
    check_one_spelling,
    installed_release,
    read_renamed_flags,
)
from sglang_ci.config.rules import MATRIX_TAG, check_name_clashes, check_stage_order
from sglang_ci.config.schema import Config, FileJob, Job, Stage
from sglang_ci.config.stage_reader import read_stage
from sglang_ci.config.text import ATTEMPT, EARLIER, job_dir_name
from sglang_ci.config.toml_reader import Table, load_toml

# Config, Job and MATRIX_TAG are owned by schema and rules; they are re-exported because
# run/, launch/, cli.py and nox_sessions.py still import them from here. Import them from
# their own modules in new code.
__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "MATRIX_TAG",
    "Config",
    "Job",
    "config_path",
    "load_config",
    "parse_config",
]

CONFIG_ENV = "SGLANG_CI_CONFIG"
# load_config's default for sglang_release: read the installed SGLang's version.
INSTALLED = "installed"
DEFAULT_CONFIG = "stages.toml"


def check_folder_names(ids: list[str], source: str) -> None:
    """Each job and file writes results/<folder>/: two ids may not share one folder
    (``a-b/t.py`` and ``a/b-t.py`` would), or one run would move the other's aside."""
    seen: dict[str, str] = {}
    for unit in ids:
        folder = job_dir_name(unit)
        for pattern, what in ((ATTEMPT, "a retried attempt's"), (EARLIER, "an earlier run's")):
            if pattern in folder:
                # The report and the next run would take its results for the runner's own.
                raise ConfigError(f"{source}: {unit} would write the results folder {folder}/,"
                                  f" which reads as {what} folder ({pattern.strip('-')!r}"
                                  " between dashes); rename the model, suite or job")  # fmt: skip
        if folder in seen:
            raise ConfigError(f"{source}: {unit} and {seen[folder]} would share the results"
                              f" folder {folder}/; rename one")  # fmt: skip
        seen[folder] = unit


def config_path(cli_path: str | None, env: Mapping[str, str], cwd: Path) -> Path:
    """--config wins, then $SGLANG_CI_CONFIG, then ./stages.toml."""
    chosen = cli_path or env.get(CONFIG_ENV) or DEFAULT_CONFIG
    path = Path(chosen)
    return path if path.is_absolute() else cwd / path


def load_config(
    cli_path: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    lenient_scores: bool = False,
    sglang_release: str | None = INSTALLED,
) -> Config:
    """stages.toml, with baselines.toml beside it (when there is one).

    ``lenient_scores``: a scored job with neither a pinned threshold nor a baseline is
    kept (marked) instead of failing the whole file, so that it can be calibrated.
    ``sglang_release``: whose spelling of the renamed flags the jobs pass; by default the
    installed SGLang's (as written where none is installed).
    """
    path = config_path(cli_path, os.environ if env is None else env, cwd or Path.cwd())
    data = load_toml(path)
    baselines = load_baselines(path.parent / BASELINES_FILE)
    release = installed_release() if sglang_release is INSTALLED else sglang_release
    return parse_config(
        data, path, baselines, lenient_scores=lenient_scores, sglang_release=release,
        registry_cache=registry_cache_dir(os.environ if env is None else env),
    )  # fmt: skip


def parse_config(
    data: dict[str, Any],
    source: Path,
    baselines: Mapping[str, Baseline] | None = None,
    *,
    lenient_scores: bool = False,
    sglang_release: str | None = None,
    registry_cache: Path | None = None,
) -> Config:
    baselines = baselines or {}
    root = Table(data, "", source.name, allowed=(*ROOT_KEYS, RENAMED_FLAGS), required=ROOT_KEYS)
    renames = read_renamed_flags(root)
    # Models and suites first: every job entry refers to them by name.
    models = read_models(root)
    suites = read_suites(root)
    stages_table = section(root, "stages")
    stages: dict[str, Stage] = {}
    jobs: dict[str, Job] = {}
    files: dict[str, FileJob] = {}
    registries: dict[Path, Registry] = {}
    for name in stages_table.data:
        stage, table = read_stage(stages_table, name)
        stage_jobs = read_stage_jobs(
            table, stage, models, suites, jobs, baselines, lenient=lenient_scores
        )
        stage = replace(stage, jobs=tuple(job.id for job in stage_jobs))
        registered = read_registered(table, stage, source.parent, registries, registry_cache)
        if registered is not None:
            origin, stage_files = registered
            check_files_once(files, stage_files, source.name)
            files.update((file.id, file) for file in stage_files)
            stage = replace(stage, files=tuple(f.id for f in stage_files), registered=origin)
        stages[name] = stage
    check_stage_order(stages_table, stages)
    check_name_clashes(root, models, suites, stages)
    check_known(dict(baselines), list(jobs), BASELINES_FILE)
    for job in jobs.values():
        check_one_spelling(job.deployment, renames, f"{source.name}: {job.where}")
    check_folder_names([*jobs, *files], source.name)
    spelt = {job_id: job.spelt_for(renames, sglang_release) for job_id, job in jobs.items()}
    return Config(
        source,
        MappingProxyType(models),
        MappingProxyType(suites),
        MappingProxyType(stages),
        MappingProxyType(spelt),
        MappingProxyType(files),
        renamed_flags=renames,
    )
