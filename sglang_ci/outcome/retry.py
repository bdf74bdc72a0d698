"""Which failures are worth another attempt when retries are on, as SGLang decides it
(python/sglang/test/ci/ci_utils.py is_retriable_failure and run_unittest_files @
6ed5780c4f), decided on the failure's kind (recorded where the failure was known),
never on the text of its reason.

SGLang matches a file's output: code errors first (SyntaxError, ImportError,
TypeError, RuntimeError, "CUDA out of memory", "OOM", segfaults,
ConnectionRefusedError, ...) are never retried; then accuracy and performance
assertions ("not greater than", "accuracy", "score", "latency", "throughput",
"timeout", any other AssertionError) are; anything else is not ("unknown failure
type"). A file that hits --timeout-per-file is retried ("usually a stuck server / hung
device"), and a server that fails to start within its timeout is an infra flake,
retried. What each of our kinds is in those terms is below.
"""

from __future__ import annotations

import re

from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status, Verdict

RETRIABLE = {
    FailureKind.BELOW_THRESHOLD: "accuracy assertion (not greater than)",
    FailureKind.CHECK_FAILED: "AssertionError (assuming retriable)",
    FailureKind.REQUEST_TIMEOUT: "retriable pattern: timeout",
    FailureKind.TIME_LIMIT: "timed out (--timeout-per-file)",
    FailureKind.LAUNCH_TIMEOUT: "server failed to start within the timeout",
}
# What SGLang's output would show for the rest: a crash (RuntimeError, core dumped,
# OOM), a refused connection, a bad config, or nothing it knows.
NOT_RETRIABLE = {
    FailureKind.LAUNCH_EXIT: "non-retriable error: the server exited",
    FailureKind.SERVER_DIED: "non-retriable error: the server died",
    FailureKind.TRANSIENT_HTTP: "non-retriable error: ConnectionRefusedError/HTTP",
    FailureKind.CONFIG: "non-retriable error: config",
}


def classify(verdict: Verdict) -> tuple[bool, str]:
    """(retriable, why) for a finished attempt."""
    if verdict.status is Status.PASSED:
        return False, "passed"
    if verdict.kind in RETRIABLE:
        return True, RETRIABLE[verdict.kind]
    if verdict.kind in NOT_RETRIABLE:
        return False, NOT_RETRIABLE[verdict.kind]
    return False, f"{verdict.kind.value if verdict.kind else verdict.status.value}: not retried"


# A registered file's failure is only known from its output, so for files the decision is
# SGLang's own, on that text (ci_utils.py is_retriable_failure): device-resource flakes
# first (retried), then real code errors (never), then accuracy and performance
# assertions (retried), then any other AssertionError (retried); the rest is not.
_FILE_RULES: tuple[tuple[bool, str, tuple[str, ...]], ...] = (
    (True, "retriable infra flake", (
        r"UR_RESULT_ERROR_OUT_OF_RESOURCES", r"XPU out of memory",
        r"Server failed to start within the timeout",
    )),
    (False, "non-retriable error", (
        r"SyntaxError", r"ImportError", r"ModuleNotFoundError", r"NameError", r"TypeError",
        r"AttributeError", r"RuntimeError", r"CUDA out of memory", r"OOM",
        r"Segmentation fault", r"core dumped", r"ConnectionRefusedError", r"FileNotFoundError",
    )),
    (True, "retriable pattern", (
        r"AssertionError:.*not greater than", r"AssertionError:.*not less than",
        r"AssertionError:.*not equal to", r"AssertionError:.*!=.*expected", r"accuracy",
        r"score", r"latency", r"throughput", r"timeout",
    )),
)  # fmt: skip


def classify_file(verdict: Verdict, output: str) -> tuple[bool, str]:
    """(retriable, why) for one finished attempt of a registered file."""
    kind = verdict.kind
    if verdict.status is Status.PASSED:
        return False, "passed"
    if kind is FailureKind.TIME_LIMIT:
        return True, RETRIABLE[FailureKind.TIME_LIMIT]
    if kind is not FailureKind.CHECK_FAILED:  # cancelled, or it left processes behind
        return False, f"{kind.value if kind else verdict.status.value}: not retried"
    for retriable, label, patterns in _FILE_RULES:
        for pattern in patterns:
            if re.search(pattern, output, re.IGNORECASE):
                return retriable, f"{label}: {pattern}"
    if re.search(r"AssertionError", output):
        return True, RETRIABLE[FailureKind.CHECK_FAILED]
    return False, "unknown failure type"


def attempt_row(attempt: int, verdict: Verdict, retriable: bool, why: str) -> dict[str, object]:
    """One attempt as result.json's ``attempts`` lists it."""
    return {"attempt": attempt, "status": verdict.status.value, "reason": verdict.reason,
            "failure_kind": verdict.kind.value if verdict.kind else None,
            "retriable": retriable, "why": why}  # fmt: skip
