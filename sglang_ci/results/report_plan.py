"""The plan `report` checks results against: the GPU workflow's --plan file, or the stages
named with --stage, read from stages.toml."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import load_config
from sglang_ci.outcome.errors import FatalError
from sglang_ci.results.planned import Plan, from_stages, read_plan


def stage_waits(
    config_path: str | None, env: Mapping[str, str]
) -> dict[str, tuple[str, ...]] | None:
    """stages.toml's `after` of each stage, to tell a stage skipped by gating from one
    skipped after a failure; None where no valid stages.toml is found (the report then
    counts every skip beside a failure as caused by it)."""
    try:
        config = load_config(config_path, env, Path.cwd())
    except FatalError:
        return None
    return {name: stage.after for name, stage in config.stages.items()}


def report_plan(args: argparse.Namespace, env: Mapping[str, str]) -> Plan | None:
    """The plan `report` checks the results against: --plan FILE, or --stage from stages.toml."""
    if args.plan and args.stage:
        raise UsageError("report: give --plan or --stage, not both")
    if args.plan:
        return read_plan(Path(args.plan), stage_waits(args.config, env))
    if not args.stage:
        return None
    config = load_config(args.config, env, Path.cwd())
    for stage in args.stage:
        config.stage_jobs(stage)  # an unknown stage is a one-line error
    return from_stages((s, config.stages[s].units) for s in args.stage)
