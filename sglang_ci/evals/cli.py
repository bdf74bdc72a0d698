"""``python -m sglang_ci eval {gsm8k,hellaswag} --base-url URL ...`` against any server."""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path

from sglang_ci.config.checks import CHECKS, EvalOptions
from sglang_ci.config.errors import UsageError
from sglang_ci.evals.data import GSM8K, HELLASWAG
from sglang_ci.evals.defaults import SGLANG_REQUEST_TIMEOUT_S
from sglang_ci.outcome.errors import FatalError

EVALS = sorted(name for name, check in CHECKS.items() if check.eval_defaults)


def add_eval_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "eval", help="run an accuracy eval against a running server",
        description="Score a running server on GSM8K or HellaSwag exactly as SGLang's test"
        " kits do; print the score and write per-sample records.", allow_abbrev=False,
    )  # fmt: skip
    parser.add_argument("eval_name", choices=EVALS, metavar="EVAL",
                        help="gsm8k or hellaswag")  # fmt: skip
    parser.add_argument("--base-url", required=True, help="the server, e.g. http://127.0.0.1:30000")
    parser.add_argument("--data", metavar="PATH", help="local JSONL instead of the file"
                        f" SGLang downloads (or ${GSM8K.env} / ${HELLASWAG.env});"
                        " 'hub': the hub's copy through datasets")  # fmt: skip
    parser.add_argument("--num-examples", type=int, help="evaluated samples (default 200)")
    parser.add_argument("--num-shots", type=int, help="few-shot examples (default 5 / 20)")
    parser.add_argument("--threads", type=int, help="concurrent requests (default 128 / 64)")
    parser.add_argument("--output", metavar="DIR", default=".", help="where records go")
    parser.add_argument("--api-key", default=os.environ.get("SGLANG_API_KEY"))
    parser.add_argument("--request-timeout", type=float, default=SGLANG_REQUEST_TIMEOUT_S,
                        help="seconds one request may take (default: SGLang's 3600)")  # fmt: skip


def check_numbers(num_examples: int | None, num_shots: int | None, threads: int | None) -> None:
    for flag, value, low in (("--num-examples", num_examples, 1), ("--num-shots", num_shots, 0),
                             ("--threads", threads, 1)):  # fmt: skip
        if value is not None and value < low:
            raise UsageError(f"{flag} must be {low} or more, got {value}")


def options_from(args: argparse.Namespace) -> EvalOptions:
    """The flags given, over the eval's defaults (SGLang's run_eval / hellaswag kit)."""
    defaults = CHECKS[args.eval_name].eval_defaults
    assert defaults is not None  # gsm8k and hellaswag are evals
    return EvalOptions(
        num_examples=defaults.num_examples if args.num_examples is None else args.num_examples,
        num_shots=defaults.num_shots if args.num_shots is None else args.num_shots,
        threads=args.threads or defaults.threads,
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from sglang_ci.evals.records import RecordSink

    check_numbers(args.num_examples, args.num_shots, args.threads)
    try:
        sink = RecordSink(Path(args.output), args.eval_name)
    except OSError as error:
        raise UsageError(f"--output {args.output}: {error.strerror}") from None
    # Imported here: requests and tqdm are not needed to build the CLI's parser.
    from sglang_ci.evals.run import run_eval

    stop = threading.Event()  # this command's own: Ctrl-C reaches the main thread directly
    try:
        outcome = run_eval(
            args.eval_name, args.base_url, options_from(args), data=args.data, env=os.environ,
            api_key=args.api_key, request_timeout=args.request_timeout, on_record=sink,
            stop=stop,
        )  # fmt: skip
    except KeyboardInterrupt:
        stop.set()  # the pool's workers stop retrying and sending
        print(f"{args.eval_name}: interrupted; the samples scored so far are in {sink.path}")
        return 130
    except BaseException:
        sink.close()
        if sink.path.stat().st_size == 0:  # nothing was scored: leave no empty file behind
            sink.path.unlink()
        raise
    finally:
        sink.close()
    records = outcome.write(Path(args.output))
    try:
        outcome.require_answers()
    except FatalError as error:
        raise FatalError(f"{error.message}; records: {records}", kind=error.kind) from None
    print(
        f"{outcome.name}: score {outcome.score:.4f} ({outcome.correct}/{len(outcome.records)}"
        f" correct, {outcome.errors} request errors) in {outcome.seconds:.1f} s;"
        f" records: {records}"
    )
    return 0
