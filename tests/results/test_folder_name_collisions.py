"""Names that read as the runner's own folders are refused at validate (issue 20, item
10): a model alias `m-attempt-1` made a failed job's folder look like an attempt folder,
and `report` without a plan said "1/1 passed", exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.text import job_dir_name
from sglang_ci.results.job_folder import is_earlier_run
from tests.conftest import FIXTURES


def renamed(tmp_path: Path, old: str, new: str) -> Path:
    """The fixture stages.toml (and the baselines beside it) with one name replaced
    everywhere."""
    for name in ("stages.toml", "baselines.toml"):
        text = (FIXTURES / name).read_text().replace(old, new)
        (tmp_path / name).write_text(text)
    return tmp_path / "stages.toml"


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [("llama3-8b", "m-attempt-1", "'attempt'"), ("llama3-8b", "m-earlier-2", "'earlier'"),
     ("gemma4-31b", "g-attempt-x", "'attempt'")],
)  # fmt: skip
def test_a_name_that_reads_as_a_runner_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, pattern: str
) -> None:
    config = renamed(tmp_path, old, new)
    code = main_exit_code(["validate", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"model='{new}'" in err and "which reads as" in err and pattern in err
    assert "rename the model, suite or job" in err


def test_why_such_a_name_would_mislead() -> None:
    folder = job_dir_name("sanity(model='m-attempt-1')")
    assert is_earlier_run(Path("results") / folder / "result.json", Path("results"))


def test_a_name_ending_in_attempt_is_no_attempt_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = renamed(tmp_path, "llama3-8b", "llama-attempt")  # no dash after it: no clash
    assert main_exit_code(["validate", "--config", str(config)]) == 0, capsys.readouterr().err
