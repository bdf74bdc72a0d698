"""A generator of realistic run history for the history tests and the benchmark.

Each job has per-question difficulties (a question i is answered right with chance p_i,
drawn from a Beta around the job's accuracy), so a run's score is a sum of Bernoulli
draws over 200 questions, as an eval on a nondeterministic engine scores. Runs come two
per SGLang commit. Planted, and known to the tests: a regression at one commit (every
question gets harder from there on), one flaky job (its server dies in about 12% of
runs, independently of the commit), one threshold inside the noise (set 0.9 standard
deviations under the mean). Every other job's threshold sits far below its noise.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sglang_ci.history.rows import Answers, RunRow

QUESTIONS = 200
GPU = "NVIDIA H200"


@dataclass
class History:
    rows: list[RunRow]
    answers: dict[str, list[Answers]]
    regression_job: str
    regression_commit: str
    flaky_job: str
    tight_job: str
    stub_job: str
    results: list[dict[str, Any]] = field(default_factory=list)  # result.json contents


def commit_of(number: int) -> str:
    return hashlib.sha1(f"commit {number}".encode()).hexdigest()[:10]


def job_name(index: int) -> str:
    return f"spec(model='m{index:02d}')"


def generate(seed: int = 7, jobs: int = 12, runs: int = 200, records: bool = True) -> History:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    regression_at = runs // 2 // 5 * 3  # the commit number, 60% into the history
    names = [job_name(i) for i in range(jobs)]
    history = History([], {}, names[1], commit_of(regression_at), names[2], names[3], names[0])
    for j, job in enumerate(names):
        accuracy = 0.55 + 0.3 * rng.random()
        concentration = 2.0
        difficulty = [
            rng.betavariate(concentration * accuracy, concentration * (1 - accuracy))
            for _ in range(QUESTIONS)
        ]
        mean = sum(difficulty) / QUESTIONS
        std = (sum(p * (1 - p) for p in difficulty)) ** 0.5 / QUESTIONS
        threshold = round(mean - (0.9 * std if job == history.tight_job else 6 * std), 3)
        for r in range(runs):
            commit = r // 2
            when = start + timedelta(hours=r, minutes=j)
            chances = difficulty
            if job == history.regression_job and commit >= regression_at:
                chances = [p * 0.5 for p in difficulty]
            correct = {q: rng.random() < p for q, p in enumerate(chances)}
            score = sum(correct.values()) / QUESTIONS
            status, kind, scored = "passed", None, True
            if job == history.flaky_job and rng.random() < 0.12:
                status, kind, scored = "error", "server died", False
            elif score <= threshold:
                status, kind = "failed", "below threshold"
            uid = f"gh:{1000 + r}-1/{job}"
            seconds = round(300 + 40 * rng.random() + 5 * j, 3)
            row = RunRow(
                uid,
                f"gh:{1000 + r}-1",
                job,
                "stage-b",
                "sglang",
                False,
                status,
                kind,
                score if scored else None,
                threshold,
                ">",
                None,
                None,
                seconds,
                {"eval": seconds},
                when.isoformat(timespec="seconds"),
                (when + timedelta(minutes=6)).isoformat(timespec="seconds"),
                "0.5.9",
                commit_of(commit),
                GPU,
                "570.86",
                "runner-1",
            )
            history.rows.append(row)
            if records and scored:
                history.answers[uid] = [Answers("gsm8k", correct)]
        if job == history.stub_job:  # stub runs: stored, marked, never evidence
            for r in range(10):
                when = start + timedelta(hours=r * 7, minutes=30)
                history.rows.append(
                    RunRow(
                        f"local:laptop:{when.isoformat()}/{job}",
                        f"local:laptop:{when.isoformat()}",
                        job,
                        "stage-b",
                        "stub",
                        True,
                        "failed",
                        "below threshold",
                        0.0,
                        threshold,
                        ">",
                        None,
                        None,
                        2.0,
                        {"eval": 2.0},
                        when.isoformat(timespec="seconds"),
                        when.isoformat(timespec="seconds"),
                        None,
                        None,
                        "",
                        None,
                        "laptop",
                    )
                )
    history.rows.sort(key=lambda row: (row.started_at, row.uid))
    return history


def result_json(row: RunRow) -> dict[str, Any]:
    """The result.json a runner would have written for ``row``."""
    run = row.run_id.removeprefix("gh:").split("-")[0] if row.run_id.startswith("gh:") else None
    return {
        "engine": row.engine,
        "job": row.job,
        "stage": row.stage,
        "gpus": 1,
        "status": row.status,
        "reason": "",
        "failure_kind": row.failure_kind,
        "exit_code": 0 if row.passed else 1,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "phases": row.phases,
        "score": row.score,
        "threshold": row.threshold,
        "comparator": row.comparator,
        "provenance": {
            "sglang_version": row.sglang_version,
            "sglang_commit": row.sglang_commit,
            "gpus": [row.gpu] if row.gpu else None,
            "driver": row.driver,
            "host": row.host,
            "github_run_id": run,
            "github_run_attempt": "1" if run else None,
        },
    }


def write_results(history: History, folder: Path, rows: list[RunRow] | None = None) -> None:
    """One folder per CI run, one job folder per result, as downloaded artifacts lie."""
    for number, row in enumerate(history.rows if rows is None else rows):
        out = folder / f"run-{number:05d}" / "job"
        out.mkdir(parents=True)
        (out / "result.json").write_text(json.dumps(result_json(row)))
        for block in history.answers.get(row.uid, []):
            lines = [
                json.dumps(
                    {
                        "index": q,
                        "question": "",
                        "output": "",
                        "extracted": None,
                        "gold": None,
                        "correct": ok,
                        "latency": 0.0,
                    }
                )
                for q, ok in block.correct.items()
            ]
            (out / f"{block.eval}.jsonl").write_text("\n".join(lines) + "\n")
