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

from sglang_ci.config.errors import FailureKind
from sglang_ci.results.result_file import Status, Verdict

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
