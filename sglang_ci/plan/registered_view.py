"""`registered` and `registered-partitions`: SGLang's registered files, and their split.

The split comparison puts SGLang's own partitioner (ci_register.py ``auto_partition`` at
6ed5780c4f: longest est_time first, ties by file name, each to the least-loaded shard,
the lowest index among equals) next to ours (plan/partition.py ``split``: the same LPT,
then moves and swaps out of the longest shard) for the same durations, each measured
against the lower bound max(total / n, longest file).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.config.registered import Registry
from sglang_ci.config.text import Cell, render_table
from sglang_ci.plan.partition import Unit, lower_bound, shard_budget, split

# compute_partitions.py pins base-a to one shard (_BASE_A_OVERRIDES).
PINNED_SIZES = {"base-a-test-1-gpu-small": 1}
# pr-test*.yml: `self_name: <suite>` and, in the same `with:` block, the stage timeout.
_STAGE_TIMEOUT = re.compile(
    r"self_name:\s*['\"]?([\w.-]+)['\"]?\s*\n(?:[ \t]+[^\n]*\n){0,12}?"
    r"[ \t]+run_timeout_minutes:\s*['\"]?(\d+)"
)


def registered_listing(registry: Registry, suite: str | None, nightly: bool, as_json: bool) -> str:
    """Every CUDA registration (or one suite's); with ``as_json`` the suite tables."""
    cuda = [r for r in registry.registrations if r.backend == "cuda"]
    disabled = sum(1 for r in cuda if r.disabled is not None)
    if suite is not None:
        enabled, off = registry.select(suite, nightly=nightly)
        if as_json:
            return json.dumps({suite: {r.file: r.est_time for r in enabled},
                               "disabled": len(off)}, indent=1)  # fmt: skip
        cuda = [*enabled, *off]
    elif as_json:
        payload = {"suites": registry.suites(nightly=False),
                   "nightly": registry.suites(nightly=True), "disabled": disabled}  # fmt: skip
        return json.dumps(payload, indent=1)
    rows = [(r.file, r.est_time, r.suite, r.stage or "", r.runner_config or "",
             "yes" if r.nightly else "", r.disabled or "") for r in cuda]  # fmt: skip
    header = ("file", "est_time", "suite", "stage", "runner_config", "nightly", "disabled")
    enabled_count = len(cuda) - sum(1 for r in cuda if r.disabled is not None)
    return (render_table(header, rows)
            + f"\n{enabled_count} enabled CUDA registrations, {len(cuda) - enabled_count}"
            " disabled (left out of runs and of --json)")  # fmt: skip


def sglang_lpt(durations: Mapping[str, float], n: int) -> list[list[str]]:
    """SGLang's ``auto_partition``, for comparison: plain LPT, nothing after it."""
    shards: list[list[str]] = [[] for _ in range(n)]
    loads = [0.0] * n
    for file in sorted(durations, key=lambda f: (-durations[f], f)):
        target = min(range(n), key=loads.__getitem__)  # first index among equal loads
        shards[target].append(file)
        loads[target] += durations[file]
    return shards


def stage_size(checkout: Path, suite: str, total: float) -> int | None:
    """compute_partitions.py's shard count for a suite its pr-test*.yml dispatches."""
    if suite in PINNED_SIZES:
        return PINNED_SIZES[suite]
    for workflow in sorted((checkout / ".github" / "workflows").glob("pr-test*.yml")):
        for match in _STAGE_TIMEOUT.finditer(workflow.read_text(encoding="utf-8")):
            if match.group(1) == suite:
                # compute_partitions.py: ceil(total / (0.75 x timeout)), coeff 1, bias 0.
                return max(1, math.ceil(total / shard_budget(int(match.group(2)))))
    return None


def _durations(registry: Registry, suite: str, nightly: bool,
               measured: Mapping[str, float]) -> dict[str, float]:  # fmt: skip
    """est_time, overridden by measured seconds as run_suite's ``live_est`` does."""
    enabled, _ = registry.select(suite, nightly=nightly)
    return {r.file: float(measured.get(r.file, r.est_time)) for r in enabled}


def compare_suite(durations: Mapping[str, float], n: int) -> tuple[float, float, float]:
    """(lower bound, SGLang's makespan, ours) for one suite over n shards."""
    bound = lower_bound([Unit((f,), s) for f, s in durations.items()], n)
    theirs = max(sum(durations[f] for f in shard) for shard in sglang_lpt(durations, n))
    ours = max(p.seconds for p in split(sorted(durations), durations, n))
    return bound, theirs, ours


def _ratio(makespan: float, bound: float) -> str:
    return f"{makespan / bound:.4f}" if bound > 0 else "-"


def partition_detail(registry: Registry, suite: str, nightly: bool, n: int | None,
                     measured: Mapping[str, float]) -> str:  # fmt: skip
    """Each shard's predicted seconds, SGLang's LPT beside ours, and the two ratios."""
    durations = _durations(registry, suite, nightly, measured)
    size = n or stage_size(registry.checkout, suite, sum(durations.values()))
    if size is None:
        raise UsageError(f"suite {suite!r}: no stage timeout in the checkout's"
                         " .github/workflows/pr-test*.yml; give --partitions N")  # fmt: skip
    theirs = [sum(durations[f] for f in shard) for shard in sglang_lpt(durations, size)]
    ours = [p.seconds for p in split(sorted(durations), durations, size)]
    rows: list[tuple[Cell, ...]] = [
        (i + 1, round(t, 1), round(o, 1)) for i, (t, o) in enumerate(zip(theirs, ours, strict=True))
    ]
    bound, their_max, our_max = compare_suite(durations, size)
    rows.append(("makespan", round(their_max, 1), round(our_max, 1)))
    rows.append(("/ lower bound", _ratio(their_max, bound), _ratio(our_max, bound)))
    head = (f"{suite}: {len(durations)} files, {size} partitions, lower bound"
            f" {bound:.1f} s = max(total {sum(durations.values()):.1f} / {size},"
            f" longest {max(durations.values(), default=0.0):.1f})")  # fmt: skip
    return head + "\n" + render_table(("partition", "SGLang LPT s", "ours s"), rows)


def partition_summary(registry: Registry, nightly: bool, n: int | None, min_files: int,
                      measured: Mapping[str, float]) -> str:  # fmt: skip
    """One row per suite with at least ``min_files`` files."""
    rows: list[tuple[Cell, ...]] = []
    for suite in registry.suites(nightly=nightly):
        durations = _durations(registry, suite, nightly, measured)
        if len(durations) < min_files:
            continue
        size = n or stage_size(registry.checkout, suite, sum(durations.values()))
        if size is None:
            rows.append((suite, len(durations), "-", "-", "-", "-"))
            continue
        bound, theirs, ours = compare_suite(durations, size)
        rows.append((suite, len(durations), size, round(bound, 1),
                     _ratio(theirs, bound), _ratio(ours, bound)))  # fmt: skip
    header = ("suite", "files", "partitions", "lower bound s", "SGLang LPT / bound",
              "ours / bound")  # fmt: skip
    note = ("\npartitions '-': the suite is not sized by pr-test*.yml (run whole by its"
            " workflow); give --partitions N to compare")  # fmt: skip
    return render_table(header, rows) + (note if n is None else "")
