"""Threshold statistics against hand-computed values, and baselines.toml's rules (on the
fixture config in tests/fixtures)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from sglang_ci.config.baselines import append_runs, load_baselines, parse_baselines
from sglang_ci.config.errors import ConfigError
from sglang_ci.config.model import load_config
from sglang_ci.config.stats import Spread, binomial_se, recommended_threshold, wilson_interval
from tests.conftest import FIXTURES


def test_binomial_standard_error() -> None:
    # sqrt(0.445 * 0.555 / 200) = sqrt(0.00123488) = 0.035141
    assert binomial_se(0.445, 200) == pytest.approx(0.035141, abs=1e-6)
    assert binomial_se(0.0, 200) == 0.0


def test_wilson_at_the_edges() -> None:
    # p = 0: lower 0, upper = (z^2/n) / (1 + z^2/n) with z = 1.96, n = 200
    # = 0.0192073 / 1.0192073 = 0.018845
    low, high = wilson_interval(0.0, 200)
    assert low == 0.0 and high == pytest.approx(0.018845, abs=1e-6)
    low, high = wilson_interval(1.0, 200)
    assert high == 1.0 and low == pytest.approx(1 - 0.018845, abs=1e-6)


def test_wilson_in_the_middle() -> None:
    # p = 0.5, n = 100: center 0.5, half = 1.96 * sqrt(0.0025 + 0.0000960) / 1.038415
    # = 1.96 * 0.050951 / 1.038415 = 0.096170
    low, high = wilson_interval(0.5, 100)
    assert low == pytest.approx(0.40383, abs=1e-5)
    assert high == pytest.approx(0.59617, abs=1e-5)


def test_spread() -> None:
    spread = Spread.of([0.40, 0.45, 0.50, 0.45])
    assert spread.mean == pytest.approx(0.45)
    assert (spread.minimum, spread.maximum, spread.distinct) == (0.40, 0.50, 3)
    # sample std: sqrt((0.0025 + 0 + 0.0025 + 0) / 3) = 0.040825
    assert spread.std == pytest.approx(0.040825, abs=1e-6)
    assert Spread.of([0.44] * 20).std == 0.0


def test_rules_reproduce_seed_001() -> None:
    assert recommended_threshold([0.445, 0.440], "min-margin", 0.03, 2.0) == 0.41
    # mean 0.45, std 0.040825: 0.45 - 2 * 0.040825 = 0.36835 -> 0.368
    assert recommended_threshold([0.40, 0.45, 0.50, 0.45], "mean-k-std", 0.03, 2.0) == 0.368


def test_baselines_derive_the_seed_thresholds() -> None:
    config = load_config(None, {}, FIXTURES)
    derived = config.jobs["spec(model='gemma4-31b', topk=1)"]
    assert derived.threshold("gsm8k") == 0.41 and derived.threshold_origin == "baseline"
    assert derived.evidence() == {"rule": "min - 0.03", "observations": 20, "lowest": 0.44,
                                "margin": pytest.approx(0.03)}  # fmt: skip
    assert config.jobs["spec(model='gemma4-31b', topk=3)"].evidence()["rule"] == "pinned"


def baselines_for(job: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"jobs": {job: {"runs": runs}}}


def test_empty_baseline_names_the_job() -> None:
    with pytest.raises(ConfigError, match=r"no runs recorded for spec\(model='x'\)"):
        parse_baselines(baselines_for("spec(model='x')", []), "baselines.toml")


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        ([{"score": 77.5}], "not an accuracy in 0..1"),
        ([{"score": 0.5, "repeat": 0}], "must be 1 or more"),
        ([{"scor": 0.5}], "Perhaps you meant 'score'?"),
    ],
)
def test_bad_runs(runs: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_baselines(baselines_for("spec(model='x')", runs), "baselines.toml")


def copy_fixture(tmp_path: Path) -> Path:
    for name in ("stages.toml", "baselines.toml"):
        (tmp_path / name).write_text((FIXTURES / name).read_text())
    return tmp_path


def test_missing_baseline_for_an_unpinned_job(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    (folder / "baselines.toml").write_text("# nothing recorded yet\\n")
    with pytest.raises(ConfigError) as caught:
        load_config(None, {}, folder)
    message = str(caught.value)
    assert "spec(model='gemma4-31b', topk=1): a scored job 'gsm8k' has no threshold" in message
    assert "calibrate --write" in message and "thresholds.gsm8k" in message


def test_baseline_for_an_unknown_job(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    text = (folder / "baselines.toml").read_text()
    extra = "\n[[jobs.\"spec(model='gemma4-31b', topk=4)\".runs]]\nscore = 0.5\n"
    (folder / "baselines.toml").write_text(text + extra)
    with pytest.raises(ConfigError, match=r"no such job in stages\.toml\. Perhaps you meant"):
        load_config(None, {}, folder)


def test_append_keeps_comments_and_changes_the_threshold(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    path = folder / "baselines.toml"
    before = path.read_text()
    job = "spec(model='gemma4-31b', topk=1)"
    append_runs(path, job, [{"score": 0.46, "repeat": 3, "source": "test"}])
    after = path.read_text()
    comments = [line for line in before.splitlines() if line.startswith("#")]
    assert [line for line in after.splitlines() if line.startswith("#")] == comments
    assert after.startswith(before.rstrip("\\n"))  # appended, nothing rewritten
    baseline = load_baselines(path)[job]
    assert len(baseline.scores) == 23 and min(baseline.scores) == 0.44
    append_runs(path, job, [{"score": 0.40}])
    assert load_config(None, {}, folder).jobs[job].threshold("gsm8k") == 0.37
    assert tomlkit.parse(path.read_text())["defaults"]["margin"] == 0.03


def test_nan_is_never_a_threshold() -> None:
    assert math.isfinite(recommended_threshold([0.5], "min-margin", 0.03, 2.0))


def test_append_never_breaks_the_file(tmp_path: Path) -> None:
    path = tmp_path / "baselines.toml"
    text = "[jobs.\"a(model='x')\"]\nruns = [{score = 0.4}]  # inline: cannot be continued\n"
    path.write_text(text)
    with pytest.raises(ConfigError, match="cannot append runs"):
        append_runs(path, "a(model='x')", [{"score": 0.5}])
    assert path.read_text() == text  # untouched


def test_append_before_another_job_keeps_everything_in_place(tmp_path: Path) -> None:
    path = tmp_path / "baselines.toml"
    text = ('[[jobs."a(model=\'x\')".runs]]\nscore = 0.4\n\n# the b job\n'
            '[[jobs."b(model=\'y\')".runs]]\nscore = 0.7\n')  # fmt: skip
    path.write_text(text)
    append_runs(path, "a(model='x')", [{"score": 0.5, "source": "test"}])
    assert path.read_text().startswith(text)
    baselines = load_baselines(path)
    assert baselines["a(model='x')"].scores == [0.4, 0.5]
    assert baselines["b(model='y')"].scores == [0.7]
