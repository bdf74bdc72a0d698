"""`validate` and `list`: what the config holds, one line per job, without running it."""

from __future__ import annotations

import json

from sglang_ci.config.schema import Config, FileJob, Job
from sglang_ci.config.text import number, render_table


def validation_summary(config: Config) -> str:
    lines = [
        f"{config.source.name}: valid: {len(config.stages)} stages, {len(config.models)} models,"
        f" {len(config.suites)} suites, {len(config.jobs)} jobs"
        + (f", {len(config.files)} registered SGLang files" if config.files else "")
    ]
    for job in config.jobs.values():
        if job.baseline is not None and job.suite.score:
            evidence = job.evidence()
            runs = f"{evidence['observations']} recorded runs"
            origin = f"from {runs} ({evidence['rule']})"
            if job.threshold_origin == "pinned":
                origin = f"pinned in stages.toml ({runs} in baselines.toml)"
            lines.append(f"  {job.id}: {job.suite.score} {job.pass_when(job.suite.score)} {origin}")
    return "\n".join(lines)


def job_row(job: Job) -> dict[str, object]:
    return {
        "session": job.id,
        "stage": job.stage,
        "gpus": job.gpus,
        "est_time": job.est_time,
        "thresholds": dict(job.thresholds),
        "comparators": dict(job.comparators),
        "score_threshold": job.evidence(),
    }


def _score_cells(job: Job) -> tuple[str, str, str, str]:
    score = job.suite.score
    if not score:
        return ("", "", "", "")
    evidence = job.evidence()
    margin = evidence["margin"]
    return (
        f"{score} {job.pass_when(score)}",
        str(evidence["rule"]),
        str(evidence["observations"] or ""),
        f"{margin:+.3f}" if isinstance(margin, float) else "",
    )


def file_row(file: FileJob) -> dict[str, object]:
    return {"session": file.session, "stage": file.stage, "gpus": file.gpus,
            "est_time": file.est_time, "registered": file.suite}  # fmt: skip


def stage_cell(config: Config, stage: str) -> str:
    """``extra-a (SGLang: extra-a-test-2-gpu-large)``: our stage and SGLang's suite name,
    so a job can be found on SGLang's dashboards."""
    suite = config.stages[stage].sglang_suite
    return f"{stage} (SGLang: {suite})" if suite and suite != stage else stage


def job_listing(config: Config, stage: str | None, *, as_json: bool) -> str:
    jobs = config.stage_jobs(stage) if stage else list(config.jobs.values())
    files = config.stage_files(stage) if stage else list(config.files.values())
    if as_json:
        rows_json = [*map(job_row, jobs), *map(file_row, files)]
        for row in rows_json:
            row["sglang_suite"] = config.stages[str(row["stage"])].sglang_suite or None
        return json.dumps(rows_json, indent=2)
    header = ("SESSION", "STAGE", "GPUS", "EST", "SCORE", "RULE", "OBS", "MARGIN", "CHECKS")
    rows = [
        (
            job.id, stage_cell(config, job.stage), job.gpus, f"{number(job.est_time)}s",
            *_score_cells(job),
            ", ".join(f"{name} {job.pass_when(name)}" for name, _ in job.thresholds
                      if name != job.suite.score),
        )
        for job in jobs
    ]  # fmt: skip
    rows += [(file.session, file.stage, file.gpus, f"{number(file.est_time)}s", "", "", "", "",
              f"registered for SGLang's {file.suite}") for file in files]  # fmt: skip
    return render_table(header, rows)
