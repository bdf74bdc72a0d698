"""The bisect's pure parts: the sequential test, failure rates, the search order."""

from __future__ import annotations

import math
import random

import pytest

from sglang_ci.bisect import evidence, search
from sglang_ci.bisect.evidence import BAD, GOOD, SKIP, UNDECIDED
from sglang_ci.history.paired import mcnemar_exact


def runs(rng: random.Random, accuracy: float, count: int, questions: int = 100
         ) -> list[dict[int, bool]]:  # fmt: skip
    return [{q: rng.random() < accuracy for q in range(questions)} for _ in range(count)]


def test_discordant_pairs_run_j_with_reference_j_and_cycles() -> None:
    ref = [{0: True, 1: False}, {0: False, 1: False}]
    now = [{0: False, 1: True}, {0: True, 1: False}, {0: False, 1: False}]
    # run 0 vs ref 0: lost q0, gained q1; run 1 vs ref 1: gained q0; run 2 vs ref 0: lost q0
    assert evidence.discordant(ref, now) == (2, 2)


def test_a_clear_drop_is_bad_and_a_like_build_good() -> None:
    rng = random.Random(1)
    good, bad = runs(rng, 0.9, 2), runs(rng, 0.5, 2)
    theta = evidence.bad_rate(good, bad)
    assert 0.8 < theta < 1
    error = 0.005
    assert evidence.judge_scored(good, bad, theta, runs(rng, 0.5, 1), error).verdict == BAD
    assert evidence.judge_scored(good, bad, theta, runs(rng, 0.9, 1), error).verdict == GOOD


def test_one_run_in_the_noise_is_undecided_not_a_guess() -> None:
    rng = random.Random(2)
    good, bad = runs(rng, 0.80, 3), runs(rng, 0.77, 3)
    theta = evidence.bad_rate(good, bad)
    judged = evidence.judge_scored(good, bad, theta, runs(rng, 0.785, 1), 0.003)
    assert judged.verdict == UNDECIDED
    assert judged.p_value is not None and 0 <= judged.p_value <= 1


def test_the_sequential_error_is_near_its_bound() -> None:
    """Good builds judged many times: the share called bad stays near the error asked."""
    rng = random.Random(4)
    error = 0.05
    wrong = 0
    for _ in range(200):
        good, bad = runs(rng, 0.8, 2), runs(rng, 0.7, 2)
        theta = evidence.bad_rate(good, bad)
        have: list[dict[int, bool]] = []
        for _ in range(20):
            have += runs(rng, 0.8, 1)
            verdict = evidence.judge_scored(good, bad, theta, have, error).verdict
            if verdict != UNDECIDED:
                wrong += verdict == BAD
                break
    assert wrong / 200 <= 2 * error


def test_the_ends_are_tested_at_doubling_looks_with_bonferroni_shares() -> None:
    assert evidence.looks(16) == [1, 2, 4, 8, 16]
    assert evidence.looks(10) == [1, 2, 4, 8, 10]
    assert evidence.looks(1) == [1]
    good = [{q: True for q in range(40)}]
    bad = [{q: q >= 20 for q in range(40)}]  # 20 lost, 0 gained
    shown = evidence.regression_shown(good, bad, 0.01, 16)
    assert shown.verdict == BAD and shown.p_value == mcnemar_exact(20, 0)
    # a gain is never a regression
    assert evidence.regression_shown(bad, good, 0.01, 16).verdict == UNDECIDED
    # 3 runs is no look: wait for the fourth
    assert evidence.regression_shown(good * 3, bad * 3, 0.01, 16).verdict == UNDECIDED


def test_fisher_one_sided_matches_a_hand_count() -> None:
    # a: 1 of 4 failed; b: 4 of 4 failed. Tables as extreme: b fails 4 of the 5 failures.
    assert evidence.fisher_greater(1, 4, 4, 4) == pytest.approx(
        math.comb(4, 4) * math.comb(4, 1) / math.comb(8, 5)
    )
    assert evidence.fisher_greater(2, 4, 2, 4) > 0.5


def test_a_flaky_file_needs_passes_not_one_failure_to_be_judged() -> None:
    good_fails = [False, True, False, False, False, True]  # 2 of 6: a flaky file
    bad_fails = [True] * 6
    rates = evidence.failure_rates(good_fails, bad_fails)
    assert rates[0] == pytest.approx(1 / 3) and rates[1] == 0.98
    error = 0.005
    # one failure on a flaky file: evidence for bad, not yet enough
    assert evidence.judge_pass_fail(rates, [True], good_fails, error).verdict == UNDECIDED
    # a pass, where the bad end never passes: good
    assert evidence.judge_pass_fail(rates, [True, False, False], good_fails,
                                    error).verdict == GOOD  # fmt: skip
    assert evidence.judge_pass_fail(rates, [True] * 6, good_fails, error).verdict == BAD


def test_search_probes_the_middle_and_steps_around_skips() -> None:
    assert search.next_probe(16, {}) == 8
    assert search.next_probe(16, {8: SKIP}) == 7
    assert search.next_probe(16, {8: SKIP, 7: SKIP}) == 9
    assert search.next_probe(16, {8: GOOD}) == 12
    assert search.next_probe(16, {8: BAD}) == 4
    assert search.next_probe(4, {1: GOOD, 2: GOOD, 3: GOOD}) is None
    assert search.conclusion(4, {1: GOOD, 2: GOOD, 3: GOOD}) == (4,)


def test_skipped_and_undecided_commits_hiding_the_first_bad_are_named() -> None:
    verdicts = {4: GOOD, 5: SKIP, 6: UNDECIDED, 7: BAD}
    assert search.next_probe(16, verdicts) is None
    assert search.conclusion(16, verdicts) == (5, 6, 7)


def test_a_bad_verdict_bounds_the_range_even_after_a_later_good() -> None:
    assert search.bounds_of(16, {6: BAD, 10: GOOD}).first_bad == 6
    assert search.bounds_of(16, {6: BAD, 10: GOOD}).last_good == 0


def test_step_error_splits_one_minus_confidence_over_the_steps() -> None:
    assert evidence.step_error(0.98, 32) == pytest.approx(0.02 / 7)
    assert evidence.step_error(0.98, 1) == pytest.approx(0.01)


def test_the_stub_reads_its_accuracy_from_the_installed_stand_in_only_when_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    from sglang_ci.stub.model import FROM_INSTALLED, accuracy_setting

    assert accuracy_setting("0.25") == 0.25
    monkeypatch.setitem(sys.modules, "sglang", types.ModuleType("sglang"))
    with pytest.raises(ValueError, match="sets no SGLANG_CI_STUB_ACCURACY"):
        accuracy_setting(FROM_INSTALLED)
    stand_in = types.ModuleType("sglang")
    stand_in.SGLANG_CI_STUB_ACCURACY = 0.3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sglang", stand_in)
    assert accuracy_setting(FROM_INSTALLED) == 0.3


def test_the_bisects_probe_runs_are_kept_apart_from_the_ci_results() -> None:
    """`report results/` and `history ingest results/` read every result.json below
    results/: a bisect's probe runs must land elsewhere by default."""
    from pathlib import Path

    from sglang_ci.bisect.cli import BISECT_RESULTS
    from sglang_ci.run.options import DEFAULT_RESULTS

    assert not Path(BISECT_RESULTS).resolve().is_relative_to(Path(DEFAULT_RESULTS).resolve())
