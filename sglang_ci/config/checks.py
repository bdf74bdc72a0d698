"""The checks a suite can assert, with the facts the config and the plan need about each.

A check's threshold lives in stages.toml; what the check measures, through which
endpoint, how a value is compared to its threshold, and the range a threshold must lie
in live here, so a typo in a threshold name, an accuracy of 77.5 where 0.775 was meant,
or ``>>`` for ``>``, is caught when the config is read.

Comparators are SGLang's: its tests use ``assertGreater`` (strict, ``>``) in some places
and ``assertGreaterEqual`` (``>=``) in others, so a value equal to its threshold passes
one test and fails another. Each check carries the comparator SGLang's shared test code
uses for it (the kits in python/sglang/test/kits/ at 1bd4f94598); a suite or job whose
own SGLang test differs says so in stages.toml (``comparators = { gsm8k = ">" }``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

# Higher is better for every check there is; a "<" would need a check that measures a cost.
COMPARATORS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class EvalOptions:
    """How an accuracy eval runs; defaults are SGLang's run_eval / hellaswag kit defaults."""

    num_examples: int
    num_shots: int
    threads: int


def passes(value: float, comparator: str, threshold: float) -> bool:
    return COMPARATORS[comparator](value, threshold)


@dataclass(frozen=True)
class Check:
    name: str
    measures: str
    endpoints: tuple[str, ...]
    # The values the check can measure: a threshold outside them is a typo or a unit slip.
    low: float
    high: float | None
    # SGLang's comparator for this kind of check (see the module docstring).
    comparator: str
    # An eval produces a score per sample; a probe reads one number off the server.
    eval_defaults: EvalOptions | None = None
    # accept-length only exists when the server runs speculative decoding.
    needs_speculative: bool = False

    def range_text(self) -> str:
        return f"{self.low:g}..{self.high:g}" if self.high is not None else f">= {self.low:g}"

    def threshold_problem(self, comparator: str, threshold: float) -> str:
        """Why ``value <comparator> threshold`` is no check at all, or "" when it is one:
        a threshold outside the range, one every value passes (``>= low``: a score of 0
        would pass) or one no value can pass (``> high``)."""
        if threshold < self.low or (self.high is not None and threshold > self.high):
            return f"{threshold:g} is outside {self.name}'s range {self.range_text()}"
        if comparator == ">=" and threshold == self.low:
            return f"'>= {threshold:g}' passes every {self.name} value (range {self.range_text()})"
        if comparator == ">" and threshold == self.high:
            return f"'> {threshold:g}' passes no {self.name} value (range {self.range_text()})"
        return ""

    def describe(self, comparator: str, threshold: float, options: EvalOptions | None) -> str:
        how = ""
        if options is not None:
            how = (
                f" ({options.num_examples} examples, {options.num_shots}-shot,"
                f" {options.threads} threads)"
            )
        return f"{self.name}{how}: {self.measures} {comparator} {threshold:g}"


CHECKS: dict[str, Check] = {
    "gsm8k": Check(
        name="gsm8k",
        measures="accuracy (completion API, temperature 0, max_tokens 512)",
        endpoints=("/v1/completions",),
        low=0.0,
        high=1.0,
        # GSM8KMixin (kits/eval_accuracy_kit.py) and the Gemma4, Frozen-KV and standalone
        # spec tests: assertGreaterEqual. test_disaggregation_dsv4.py is strict (its job says so).
        comparator=">=",
        eval_defaults=EvalOptions(num_examples=200, num_shots=5, threads=128),
    ),
    "hellaswag": Check(
        name="hellaswag",
        measures="accuracy (length-normalized logprob choice)",
        endpoints=("/generate",),
        low=0.0,
        high=1.0,
        comparator=">",  # kits/hellaswag_kit.py: assertGreater
        eval_defaults=EvalOptions(num_examples=200, num_shots=20, threads=64),
    ),
    "accept-length": Check(
        name="accept-length",
        measures="internal_states[0].avg_spec_accept_length",
        endpoints=("/server_info",),
        # Every verify step accepts at least the target model's own token.
        low=1.0,
        high=None,
        # fwd_occupancy_kit, eval_accuracy_kit and spec_decoding_kit: assertGreater; the
        # Gemma4 MTP tests use assertGreaterEqual (the spec suite says so).
        comparator=">",
        needs_speculative=True,
    ),
    "fwd-occupancy": Check(
        name="fwd-occupancy",
        measures="median sglang:fwd_occupancy (%) during a 2048-token decode, min over ranks",
        endpoints=("/metrics", "/generate"),
        low=0.0,
        high=100.0,
        comparator=">",  # kits/fwd_occupancy_kit.py: assertGreater on the median
    ),
}
