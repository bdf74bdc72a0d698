"""The HTTP checks between launch and suite: a smoke generation, each server's cache
flushed and its /server_info recorded (what the suite verifies), with the eval requests'
policy for transient failures; under --sglang-sequence only what the job's SGLang test
sends itself."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

from sglang_ci.config.secrets import redacted
from sglang_ci.evals.client import SGLANG_SAMPLER
from sglang_ci.launch.http_client import make_session
from sglang_ci.launch.launcher import DeploymentRun
from sglang_ci.launch.server_api import flush_cache, server_info, smoke_generate
from sglang_ci.outcome.errors import FatalError
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.results.result_file import JobResult

T = TypeVar("T")


def with_transient_retries(call: Callable[[], T], stop: threading.Event) -> T:
    """``call`` sent again on a transient failure (5xx, a lost connection) as an eval
    request is within one sampler try: up to SGLANG_SAMPLER.attempts sends, waiting 0.5,
    1, ... s (capped); ``stop`` (the run's token) ends the wait."""
    policy = SGLANG_SAMPLER
    for attempt in range(policy.attempts):
        try:
            return call()
        except FatalError as error:
            if error.kind is not FailureKind.TRANSIENT_HTTP or attempt + 1 == policy.attempts:
                raise
        stop.wait(min(policy.attempt_initial_s * 2**attempt, policy.attempt_max_s))
    raise AssertionError("unreachable: the last attempt returns or raises")


def _once(call: Callable[[], T], stop: threading.Event) -> T:
    """A request sent once, as SGLang's test sends it (``stop`` unused)."""
    return call()


def run_checks(
    run: DeploymentRun, result: JobResult, stop: threading.Event, steps: tuple[str, ...] = ()
) -> None:
    """IMPROVEMENTS over SGLang's sequence, each off under --sglang-sequence
    (``run.settings.sglang_sequence``), where only the ``steps`` the job's SGLang test
    takes too remain (Suite.sglang_steps): one smoke generation through the entry point
    (a server that cannot generate fails here, not as a low score); each server's cache
    flushed ("flush"); its /server_info recorded, which the suite verifies ("server-info");
    connection retries and the eval requests' policy for transient failures on these."""
    improved = not run.settings.sglang_sequence
    if improved:
        with make_session(run.api_key, connect_retries=0) as session:
            with_transient_retries(
                lambda: smoke_generate(session, run.url, run.settings.request_timeout), stop
            )
    retrying = with_transient_retries if improved else _once
    for process in run.servers:
        with make_session(process.api_key, connect_retries=3 if improved else 0) as session:
            if improved or "flush" in steps:
                retrying(functools.partial(flush_cache, session, process.url), stop)
            if improved or "server-info" in steps:
                # /server_info lists every server arg, api_key included: hidden first.
                result.server_info[process.role] = redacted(server_info(session, process.url))
