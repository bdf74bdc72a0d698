"""Issue 20, item 13: a run refused for want of GPUs is `error` / `GPU shortage`, exit 3,
with the same result.json on every route, and displaces no earlier result; earlier-run
folders do not pile up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.results.job_folder import claimed
from tests.conftest import FIXTURE_TOML
from tests.e2e.test_noxfile import nox

JOB, FOLDER = "sanity(model='llama3-8b')", "sanity-model-llama3-8b"


def refused_result(results: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((results / FOLDER / "result.json").read_text())
    return data


def runner(route: str, results: Path) -> list[str]:
    common = ["--config", str(FIXTURE_TOML), "--results", str(results)]
    if route == "job":
        return ["job", JOB, *common]
    return ["run", "--stage", "base-a", *common]


@pytest.mark.parametrize("route", ["job", "run"])
def test_a_refusal_is_an_error_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    route: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU visible: refused up front
    code = main_exit_code(runner(route, tmp_path / "r"))
    assert code == 3, capsys.readouterr()
    result = refused_result(tmp_path / "r")
    assert (result["status"], result["failure_kind"], result["exit_code"]) == (
        "error", "GPU shortage", 3)  # fmt: skip


@pytest.mark.real_process
def test_the_nox_route_writes_the_same_refusal(tmp_path: Path) -> None:
    run = nox("-s", JOB, "--", "--results", str(tmp_path / "r"),
              env={"CUDA_VISIBLE_DEVICES": ""})  # fmt: skip
    assert run.returncode != 0 and "0 are visible" in run.stderr, run.stderr
    result = refused_result(tmp_path / "r")
    assert (result["status"], result["failure_kind"], result["exit_code"]) == (
        "error", "GPU shortage", 3)  # fmt: skip


def test_a_refusal_displaces_no_earlier_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "r"
    (results / FOLDER).mkdir(parents=True)
    earlier = json.dumps({"job": JOB, "status": "passed"})
    (results / FOLDER / "result.json").write_text(earlier)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert main_exit_code(runner("job", results)) == 3
    assert (results / FOLDER / "result.json").read_text() == earlier
    assert sorted(p.name for p in results.iterdir() if not p.name.startswith(".")) == [FOLDER]
    assert "earlier run's files in" in capsys.readouterr().out


def test_only_the_last_earlier_runs_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for run in range(1, 7):
        with claimed(tmp_path, JOB, keep_earlier=3) as folder:
            folder.mkdir()
            (folder / "run").write_text(str(run))
    kept = sorted(tmp_path.glob(f"{FOLDER}-earlier-*"))
    assert sorted((p / FOLDER / "run").read_text() for p in kept) == ["3", "4", "5"]
    assert (tmp_path / FOLDER / "run").read_text() == "6"
    deleted = [line for line in capsys.readouterr().out.splitlines() if "deleted" in line]
    assert len(deleted) == 2 and all("keeping the last 3" in line for line in deleted)


def test_keep_earlier_is_validated_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main_exit_code([*runner("job", tmp_path / "r"), "--engine", "stub",
                           "--keep-earlier", "0"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--keep-earlier must be 1 or more" in err[0], err
    assert not (tmp_path / "r").exists()
