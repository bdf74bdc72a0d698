"""baselines.toml: the observed scores that justify each scored job's threshold.

A job's score threshold is derived from its recorded runs by a named rule (seed 001:
``min - margin`` with margin 0.03) instead of typed by hand; ``calibrate --write``
appends runs with tomlkit, so the file's comments and layout survive. A job may still
pin ``thresholds.<eval>`` in stages.toml; ``list`` then says "pinned".
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.stats import RULES, recommended_threshold
from sglang_ci.config.toml_reader import Table, load_toml, suggestion
from sglang_ci.engines.registry import is_rehearsal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BASELINES_FILE = "baselines.toml"
DEFAULT_RULE, DEFAULT_MARGIN, DEFAULT_K = "min-margin", 0.03, 2.0
_RULE_KEYS = ("rule", "margin", "k")
_RUN_KEYS = ("score", "repeat", "examples", "engine", "gpu", "deterministic", "date", "source")


@dataclass(frozen=True)
class Rule:
    name: str
    margin: float
    k: float

    def describe(self) -> str:
        return f"min - {self.margin:g}" if self.name == "min-margin" else f"mean - {self.k:g} std"


@dataclass(frozen=True)
class Run:
    score: float
    repeat: int
    examples: int | None
    engine: str
    gpu: str
    deterministic: bool | None
    date: str
    source: str


@dataclass(frozen=True)
class Baseline:
    job: str
    rule: Rule
    runs: tuple[Run, ...]

    @property
    def scores(self) -> list[float]:
        """Every observation, repeats expanded (20 identical deterministic runs count 20)."""
        return [run.score for run in self.runs for _ in range(run.repeat)]

    def threshold(self) -> float:
        return recommended_threshold(self.scores, self.rule.name, self.rule.margin, self.rule.k)


def _read_rule(table: Table, default: Rule) -> Rule:
    name = table.get("rule", str, default.name)
    if name not in RULES:
        table.fail(f"unknown rule '{name}'.{suggestion(name, RULES)} Rules: {', '.join(RULES)}",
                   "rule")  # fmt: skip
    margin = table.get("margin", float, default.margin)
    k = table.get("k", float, default.k)
    if margin < 0 or k < 0:
        table.fail("margin and k must be 0 or more")
    return Rule(name, margin, k)


def _read_run(table: Table) -> Run:
    score = table.need("score", float)
    if not 0.0 <= score <= 1.0:
        table.fail(f"{score:g} is not an accuracy in 0..1", "score")
    repeat = table.get("repeat", int, 1)
    if repeat < 1:
        table.fail("must be 1 or more", "repeat")
    examples = table.get("examples", int, 0) or None
    date = table.data.get("date", "")
    if not isinstance(date, (str, datetime.date)):
        table.fail("expected a date (2026-05-29) or a string", "date")
    deterministic = table.data.get("deterministic")
    if deterministic is not None and not isinstance(deterministic, bool):
        table.fail("expected true or false", "deterministic")
    engine = table.get("engine", str, "")
    if is_rehearsal(engine):
        # The stub answers from a key at a set accuracy: its scores say nothing about a model.
        table.fail(f"'{engine}' is the stub engine; its scores are never a model's baseline",
                   "engine")  # fmt: skip
    return Run(score, repeat, examples, engine, table.get("gpu", str, ""),
               deterministic, str(date), table.get("source", str, ""))  # fmt: skip


def parse_baselines(data: dict[str, Any], source: str) -> dict[str, Baseline]:
    root = Table(data, "", source, allowed=("defaults", "jobs"))
    default = Rule(DEFAULT_RULE, DEFAULT_MARGIN, DEFAULT_K)
    if "defaults" in root:
        default = _read_rule(root.child("defaults", allowed=_RULE_KEYS), default)
    baselines: dict[str, Baseline] = {}
    jobs = root.get("jobs", dict, {})
    for job_id in jobs:
        entry = Table(jobs[job_id], f'jobs."{job_id}"', source, allowed=(*_RULE_KEYS, "runs"))
        runs = tuple(_read_run(run) for run in entry.tables("runs", allowed=_RUN_KEYS,
                                                            required=("score",)))  # fmt: skip
        if not runs:
            entry.fail(f"no runs recorded for {job_id}: record some with calibrate --write,"
                       " or remove the entry")  # fmt: skip
        baselines[job_id] = Baseline(job_id, _read_rule(entry, default), runs)
    return baselines


def load_baselines(path: Path) -> dict[str, Baseline]:
    """The baselines beside stages.toml; none when the file does not exist."""
    if not path.is_file():
        return {}
    return parse_baselines(load_toml(path), path.name)


def check_known(baselines: dict[str, Baseline], job_ids: Sequence[str], source: str) -> None:
    for job_id in baselines:
        if job_id not in job_ids:
            raise ConfigError(
                f'{source}: jobs."{job_id}": no such job in stages.toml.'
                f"{suggestion(job_id, job_ids)}"
            )


def append_runs(path: Path, job_id: str, runs: Sequence[dict[str, Any]]) -> None:
    """Add runs to ``job_id`` by appending ``[[jobs."<id>".runs]]`` tables at the end of
    the file: everything already there stays byte for byte (TOML lets an array of tables
    continue anywhere). The new text is parsed before it is written, so a file is never
    left unreadable."""
    import tomlkit  # renders keys and values exactly as TOML wants them

    before = path.read_text(encoding="utf-8") if path.is_file() else ""
    existing = tomllib.loads(before).get("jobs", {}).get(job_id, {}) if before else {}
    if "runs" in existing and not isinstance(existing["runs"], list):
        raise ConfigError(f'{path.name}: jobs."{job_id}".runs is not an array of runs')
    blocks = []
    for run in runs:
        lines = [f"[[jobs.{tomlkit.key(job_id).as_string()}.runs]]"]
        lines += [f"{key} = {tomlkit.item(value).as_string()}"
                  for key, value in run.items() if value is not None]  # fmt: skip
        blocks.append("\n".join(lines))
    after = before.rstrip("\n") + ("\n\n" if before else "") + "\n\n".join(blocks) + "\n"
    try:
        parsed = tomllib.loads(after)
    except tomllib.TOMLDecodeError as error:
        # e.g. the job's runs written as an inline array, which cannot be continued
        raise ConfigError(
            f"{path.name}: cannot append runs for {job_id} ({error}); write its runs as"
            f' [[jobs."{job_id}".runs]] tables'
        ) from None
    recorded = parsed.get("jobs", {}).get(job_id, {}).get("runs", [])
    if len(recorded) != len(existing.get("runs", [])) + len(runs):
        raise ConfigError(f"{path.name}: appending runs for {job_id} did not add them")
    path.write_text(after, encoding="utf-8")
