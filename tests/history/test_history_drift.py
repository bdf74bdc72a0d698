"""The drift test's two promises: few false alarms on healthy histories (Bonferroni over
the splits bounds them at alpha per job), and it finds a real shift at its commit."""

from __future__ import annotations

import random

from sglang_ci.history.drift import find_shift, healthy
from sglang_ci.history.rows import RunRow


def runs(
    rng: random.Random, n: int, shift_at: int | None = None, drop: float = 0.0
) -> list[RunRow]:
    out = []
    for i in range(n):
        p = 0.7 - (drop if shift_at is not None and i >= shift_at else 0.0)
        score = sum(rng.random() < p for _ in range(200)) / 200
        out.append(RunRow(f"r{i}", f"r{i}", "job", "s", "sglang", False, "passed", None, score,
                          0.5, ">", None, None, 1.0, {}, f"{i:05d}", f"{i:05d}", "0.5.9",
                          f"c{i // 2}", "H200"))  # fmt: skip
    return out


def test_healthy_histories_raise_no_false_alarm() -> None:
    rng = random.Random(12)
    # 60 healthy jobs of 100 runs: at alpha = 0.001 the expected number of alarms is < 0.06.
    alarms = [shift for _ in range(60) if (shift := find_shift(runs(rng, 100)))]
    assert alarms == []


def test_a_shift_of_three_standard_errors_is_found_at_its_commit() -> None:
    rng = random.Random(13)
    history = runs(rng, 100, shift_at=60, drop=0.1)  # binomial SE ~0.032
    shift = find_shift(history)
    assert shift is not None and shift.regression
    assert (shift.commit, shift.first_run) == ("c30", "r60")
    assert [r.uid for r in healthy(history, shift)] == [f"r{i}" for i in range(60)]


def test_the_stub_never_counts() -> None:
    rng = random.Random(14)
    history = runs(rng, 60)
    from dataclasses import replace

    stubbed = [
        replace(r, rehearsal=True, score=0.0) if i >= 30 else r for i, r in enumerate(history)
    ]
    assert find_shift(stubbed) is None
