"""Thresholds that SGLang's tests derive rather than type, derived the same way here.

The Gemma4 MTP tests (test_gemma4_mtp_*_extra.py @ 9040feebd8 and 621a79728c) set
``GSM8K_SCORE_THRESHOLD = min(OBSERVED_GSM8K_SCORES.values()) - GSM8K_SCORE_MARGIN`` and
compare with ``assertGreaterEqual``. In floating point ``min(0.445, 0.440) - 0.03`` is
0.41000000000000003, so a score of 82/200 = 0.41 fails there. A rounded 0.41 in
stages.toml would pass it: the verdict would differ. ``thresholds = { gsm8k = { observed
= [0.445, 0.440], margin = 0.03 } }`` keeps the test's inputs and computes as it does.
"""

from __future__ import annotations

from dataclasses import dataclass

from sglang_ci.config.toml_reader import Table, kind_name

DERIVED_KEYS = ("observed", "margin")


@dataclass(frozen=True)
class Derived:
    """``min(observed) - margin``, in Python floats, as SGLang's test computes it."""

    observed: tuple[float, ...]
    margin: float

    @property
    def value(self) -> float:
        return min(self.observed) - self.margin

    def describe(self) -> str:
        """``min(0.445, 0.44) - 0.03 = 0.41000000000000003``: the float's repr, unrounded."""
        scores = ", ".join(repr(score) for score in self.observed)
        return f"min({scores}) - {self.margin!r} = {self.value!r}"


def read_derived(table: Table) -> Derived:
    """``{ observed = [...], margin = m }``: at least one number observed, m >= 0."""
    observed = table.need("observed", list)
    if not observed:
        table.fail("needs at least one observed score", "observed")
    for index, item in enumerate(observed):
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            table.fail(f"expected a number, got {kind_name(item)}", f"observed[{index}]")
    margin = table.need("margin", float)
    if margin < 0:
        table.fail(f"must be 0 or more, got {margin:g}", "margin")
    return Derived(tuple(float(item) for item in observed), margin)
