"""What an eval leaves behind: its score and one record per sample, so that two runs
can be compared question by question (``python -m sglang_ci diff``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sglang_ci.outcome.errors import FatalError
from sglang_ci.outcome.kinds import FailureKind


@dataclass(frozen=True)
class SampleRecord:
    index: int  # position among the evaluated samples (the few-shot lines excluded)
    question: str
    output: str  # the model's text (GSM8K) or the chosen ending (HellaSwag)
    extracted: Any  # the extracted answer, or the chosen ending's index
    gold: Any
    correct: bool
    latency: float
    error: str | None = None  # set when the request itself failed (scored as wrong)
    error_kind: str | None = None  # its FailureKind value: transient HTTP, request timeout...


class RecordSink:
    """Appends each sample's record to ``<eval>.jsonl`` the moment it is scored, so an
    interrupted eval leaves what it learned on disk; EvalOutcome.write then rewrites the
    file in sample order."""

    def __init__(self, out_dir: Path, name: str) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / f"{name}.jsonl"
        self.handle = self.path.open("w", encoding="utf-8")

    def __call__(self, record: SampleRecord) -> None:
        self.handle.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


# Labelled improvement over SGLang (a switch): SGLang's run_eval scores an eval in which
# every request failed as 0.0 (each sample's output is ""), so the seed test fails its
# threshold; the runner calls it an error of the failed requests' kind (a dead server
# is no accuracy). SGLANG_CI_ALL_FAILED=score restores SGLang's verdict.
ALL_FAILED_ENV = "SGLANG_CI_ALL_FAILED"
ALL_FAILED_CHOICES = ("error", "score")


@dataclass(frozen=True)
class EvalOutcome:
    name: str
    records: list[SampleRecord]
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    # SGLang's hellaswag kit raises on its first failed request (sgl.select retries
    # nothing): there, any failed request makes the eval an error, as in SGLang.
    any_failure_is_error: bool = False
    # Kit assertions besides the score that failed (HellaSwag's two passes disagreeing).
    problems: tuple[str, ...] = ()
    all_failed_is_error: bool = True  # see ALL_FAILED_ENV

    @property
    def correct(self) -> int:
        return sum(record.correct for record in self.records)

    @property
    def score(self) -> float:
        """Accuracy: the share of samples answered right (a failed request counts wrong)."""
        return self.correct / len(self.records) if self.records else 0.0

    @property
    def errors(self) -> int:
        return sum(record.error is not None for record in self.records)

    def require_answers(self) -> None:
        """The one rule for every caller (suites, calibrate, the eval CLI): a kit assertion
        that failed is a failed check; a failed request where SGLang's kit would have
        raised is an error; an eval in which every request failed measured nothing, so it
        is an error too, never a score of 0 (unless SGLANG_CI_ALL_FAILED=score). Its kind
        is that of the first failed request."""
        if self.problems:
            problems = "; ".join(self.problems)
            raise FatalError(f"{self.name}: {problems}", kind=FailureKind.CHECK_FAILED)
        failed = [record for record in self.records if record.error]
        if not failed:
            return
        first = failed[0]
        kind = FailureKind(first.error_kind) if first.error_kind else FailureKind.INTERNAL
        if self.any_failure_is_error:
            raise FatalError(
                f"{self.name}: {len(failed)} of {len(self.records)} requests failed, which"
                f" SGLang's kit does not survive (first: {first.error})", kind=kind,
            )  # fmt: skip
        if len(failed) == len(self.records) and self.all_failed_is_error:
            raise FatalError(f"{self.name}: every request failed ({first.error})", kind=kind)

    def summary(self) -> dict[str, Any]:
        return {
            "eval": self.name,
            "score": self.score,
            "correct": self.correct,
            "num_examples": len(self.records),
            "request_errors": self.errors,
            "seconds": round(self.seconds, 3),
            **self.settings,
        }

    def write(self, out_dir: Path) -> Path:
        """``<eval>.jsonl`` (one line per sample) and ``<eval>.json`` (the score)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        records = out_dir / f"{self.name}.jsonl"
        with records.open("w", encoding="utf-8") as handle:
            for record in self.records:
                handle.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
        (out_dir / f"{self.name}.json").write_text(json.dumps(self.summary(), indent=2) + "\n")
        return records
