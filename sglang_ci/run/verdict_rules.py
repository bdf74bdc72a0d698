"""The rules that turn what stopped a job into its verdict: an interruption (a signal,
the time limit, a server's death) outranks what it broke on the way; a server found dead
outranks the error the eval saw; failed suite tests are an error if any was one, else a
threshold miss only when every failure was a score below its threshold; a teardown that
left something behind is an error. The status each kind gives is outcome/verdict.py's."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sglang_ci.launch.cancel import CancelToken
from sglang_ci.launch.launcher import DeploymentRun
from sglang_ci.outcome.errors import FatalError, JobFailedError, RunInterrupted, ServerDied
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.run.suite_plugin import TestFailure

CHECK_KINDS = (FailureKind.BELOW_THRESHOLD, FailureKind.CHECK_FAILED)


def suite_failure(failures: Sequence[TestFailure], fallback: str) -> FatalError:
    """One error for a suite's failed tests: an error kind (a server error, a bug) wins
    over failed checks; only misses of score thresholds alone are BELOW_THRESHOLD."""
    reason = "; ".join(f"{f.test}: {f.message}" for f in failures) or fallback
    errors = [f for f in failures if f.kind not in CHECK_KINDS]
    if errors:
        return FatalError(reason, kind=errors[0].kind)
    if failures and all(f.kind is FailureKind.BELOW_THRESHOLD for f in failures):
        return JobFailedError(reason, kind=FailureKind.BELOW_THRESHOLD)
    return JobFailedError(reason)


def interruption_verdict(interruption: RunInterrupted, timeout: float | None) -> Verdict:
    if interruption.kind is FailureKind.TIME_LIMIT:
        return Verdict.failure(interruption.kind, f"ran past its time limit of {timeout:.0f} s")
    if interruption.kind is FailureKind.CANCELLED:
        return Verdict.failure(interruption.kind, f"cancelled by {interruption.cause}")
    return Verdict.failure(interruption.kind, interruption.cause)


def verdict_of(
    error: BaseException, run: DeploymentRun | None, token: CancelToken, out_dir: Path,
    timeout: float | None,
) -> Verdict:  # fmt: skip
    """The verdict for what stopped a job. What interrupted the run (a signal, the time
    limit, a server's death) outranks what that broke on the way (failed requests)."""
    if token.interruption is not None:
        verdict = interruption_verdict(token.interruption, timeout)
        if isinstance(token.interruption, ServerDied) and run is not None:
            return replace(verdict, diagnostics=run.diagnostics())
        return verdict
    if isinstance(error, FatalError):
        if run is not None and run.processes and run.exited():
            # A server that died mid-eval is no threshold miss, whatever the eval saw.
            dead = ", ".join(p.name for p in run.exited(wait=0))
            return Verdict.failure(
                FailureKind.SERVER_DIED, f"{dead} died during the run; {error.message}",
                run.diagnostics(),
            )  # fmt: skip
        diagnostics = error.diagnostics
        if not diagnostics and run is not None and error.kind not in CHECK_KINDS:
            diagnostics = run.diagnostics()
        return Verdict.failure(error.kind, error.message, diagnostics)
    trace = out_dir / "runner-traceback.txt"
    with contextlib.suppress(OSError):  # a full disk: the verdict still names the error
        trace.parent.mkdir(parents=True, exist_ok=True)
        trace.write_text("".join(traceback.format_exception(error)))
    return Verdict.failure(
        FailureKind.INTERNAL, f"internal error {type(error).__name__}: {error} (traceback in"
        f" {trace})", run.diagnostics() if run is not None and run.processes else "",
    )  # fmt: skip


def after_teardown(
    verdict: Verdict, token: CancelToken, problems: list[str], timeout: float | None
) -> Verdict:
    """A signal during teardown still cancels a job that had passed; a teardown that left
    something behind is an error (a cancellation or timeout keeps its own status)."""
    if verdict.status is Status.PASSED and token.interruption is not None:
        verdict = interruption_verdict(token.interruption, timeout)
    if not problems:
        return verdict
    note = "teardown incomplete: " + "; ".join(problems)
    reason = f"{verdict.reason}; {note}" if verdict.reason else note
    if verdict.status in (Status.CANCELLED, Status.TIMEOUT):
        return replace(verdict, reason=reason)
    return Verdict.failure(FailureKind.TEARDOWN_INCOMPLETE, reason, verdict.diagnostics)
