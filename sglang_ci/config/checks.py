"""The checks a suite can assert, with the facts the config and the plan need about each.

A check's threshold lives in stages.toml; what the check measures, through which
endpoint, and the range a threshold must lie in live here, so a typo in a threshold
name, or an accuracy of 77.5 where 0.775 was meant, is caught when the config is read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalOptions:
    """How an accuracy eval runs; defaults are SGLang's run_eval / hellaswag kit defaults."""

    num_examples: int
    num_shots: int
    threads: int


@dataclass(frozen=True)
class Check:
    name: str
    measures: str
    endpoints: tuple[str, ...]
    low: float
    high: float | None
    # An eval produces a score per sample; a probe reads one number off the server.
    eval_defaults: EvalOptions | None = None
    # accept-length only exists when the server runs speculative decoding.
    needs_speculative: bool = False

    def describe(self, threshold: float, options: EvalOptions | None) -> str:
        how = ""
        if options is not None:
            how = (
                f" ({options.num_examples} examples, {options.num_shots}-shot,"
                f" {options.threads} threads)"
            )
        return f"{self.name}{how}: {self.measures} >= {threshold:g}"


CHECKS: dict[str, Check] = {
    "gsm8k": Check(
        name="gsm8k",
        measures="accuracy (completion API, temperature 0, max_tokens 512)",
        endpoints=("/v1/completions",),
        low=0.0,
        high=1.0,
        eval_defaults=EvalOptions(num_examples=200, num_shots=5, threads=128),
    ),
    "hellaswag": Check(
        name="hellaswag",
        measures="accuracy (length-normalized logprob choice)",
        endpoints=("/generate",),
        low=0.0,
        high=1.0,
        eval_defaults=EvalOptions(num_examples=200, num_shots=20, threads=64),
    ),
    "accept-length": Check(
        name="accept-length",
        measures="internal_states[0].avg_spec_accept_length",
        endpoints=("/server_info",),
        low=1.0,
        high=None,
        needs_speculative=True,
    ),
    "fwd-occupancy": Check(
        name="fwd-occupancy",
        measures="median sglang:fwd_occupancy (%) during a 2048-token decode, min over ranks",
        endpoints=("/metrics", "/generate"),
        low=0.0,
        high=100.0,
    ),
}
