"""McNemar's exact test, and the report's noise-aware evidence lines."""

from __future__ import annotations

import math

import pytest

from sglang_ci.history.paired import compare, mcnemar_exact


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    # 1 lost vs 9 gained of 10 discordant: 2 * (C(10,0) + C(10,1)) / 2^10.
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)  # two-sided
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 12) == pytest.approx(2 / 2**12)
    # A large case stays exact (math.comb, no overflow): 30 lost, 10 gained.
    tail = sum(math.comb(40, i) for i in range(11)) / 2**40
    assert mcnemar_exact(30, 10) == pytest.approx(2 * tail)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_compare_counts_only_shared_questions() -> None:
    reference = {0: True, 1: True, 2: False, 3: True, 9: True}
    current = {0: True, 1: False, 2: True, 3: False, 4: False}
    paired = compare(reference, current)
    assert (paired.shared, paired.lost, paired.gained) == (4, 2, 1)
    assert paired.p_value == mcnemar_exact(2, 1)
    assert "2 questions lost, 1 gained of 4 shared" in paired.describe()
