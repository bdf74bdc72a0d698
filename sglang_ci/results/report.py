"""``report``: the results of a CI run (downloaded artifacts) as one summary per stage.

Reads every result.json under a folder, writes a markdown table per stage, exits
non-zero when any job did not pass, and folds the measured durations into the file
that partitioning reads next time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.config.stub_env import is_stub_engine
from sglang_ci.config.text import Cell, markdown_table, number
from sglang_ci.results.job_folder import is_earlier_run
from sglang_ci.results.result_file import JobResult, Status


def collect(folder: Path) -> list[JobResult]:
    """Every job's final result.json (earlier attempts, kept as <job>-attempt-N, skipped)."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of job results")
    results = []
    for path in sorted(folder.rglob("result.json")):
        if is_earlier_run(path, folder):
            continue
        try:
            results.append(JobResult.load(path))
        except (ValueError, TypeError) as error:
            raise UsageError(f"{path}: not a result.json ({error})") from None
    return results


_HEADER = ("session", "status", "score / threshold", "accept length", "duration", "attempts")


def render(results: Sequence[JobResult]) -> str:
    by_stage: dict[str, list[JobResult]] = {}
    for result in results:
        by_stage.setdefault(result.stage, []).append(result)
    blocks = []
    for stage, rows in sorted(by_stage.items()):
        passed = sum(r.status is Status.PASSED for r in rows)
        ordered = sorted(rows, key=lambda r: r.job)
        engines = sorted({r.engine for r in rows})
        # One engine: named in the heading; several: a column, so no row passes for another.
        mixed = len(engines) > 1
        header = ("engine", *_HEADER) if mixed else _HEADER
        table = [((r.engine, *_row(r)) if mixed else _row(r)) for r in ordered]
        heading = f"### {stage}: {passed}/{len(rows)} passed"
        heading += ", engines mixed" if mixed else f", engine {engines[0]}"
        lines = [heading, "", markdown_table(header, table)]
        for r in rows:
            if r.status is not Status.PASSED:
                reason = (r.reason or str(r.status)).splitlines()[0][:300]
                lines.append(f"\n- `{r.job}`: {reason}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "no job results found"


def _row(result: JobResult) -> tuple[Cell, ...]:
    status = str(result.status)
    score = ""
    if result.score is not None:
        score = f"{number(result.score)} / {result.pass_when}"
    return (
        f"`{result.job}`",
        status if result.status is Status.PASSED else f"**{status}**",
        score,
        result.accept_length,
        f"{number(result.seconds)} s",
        max(1, len(result.attempts)),
    )


def update_durations(path: Path, results: Sequence[JobResult]) -> int:
    """Merge the durations of jobs that ran to a verdict; returns how many were written."""
    current: dict[str, float] = {}
    if path.is_file():
        from sglang_ci.plan.partition import read_durations  # the same format checks

        current = read_durations(path)
    # Stub runs never: a stub job takes seconds, and would tell partitioning a 300 s stage
    # takes 2 s.
    finished = [r for r in results if r.status in (Status.PASSED, Status.FAILED)
                and not is_stub_engine(r.engine)]  # fmt: skip
    for result in finished:
        current[result.job] = round(result.seconds, 1)
    path.write_text(json.dumps(dict(sorted(current.items())), indent=2) + "\n")
    return len(finished)


def report_command(
    results_dir: Path, durations: str | None, output: str | None, env: Mapping[str, str]
) -> int:
    """`report`: print the merged tables, append them to the step summary (and --output),
    update the durations file; exit 0 only when every result found passed."""
    results = collect(results_dir)
    text = render(results)
    print(text)
    for target in filter(None, (output, env.get("GITHUB_STEP_SUMMARY"))):
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    if durations:
        written = update_durations(Path(durations), results)
        stub = sum(is_stub_engine(r.engine) for r in results)
        print(
            f"\n{written} durations written to {durations}"
            + (f" ({stub} stub-engine results left out: never evidence)" if stub else "")
        )
    return 0 if results and all(r.status is Status.PASSED for r in results) else 1
