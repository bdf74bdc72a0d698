"""Provenance in result.json and the report (issue 15, item 3): the runner's commit read
from git's own files, an SGLang git install's commit from PEP 610's direct_url.json, GPUs
from NVML, and one "ran with" line per stage in the report."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.results import provenance
from sglang_ci.results.provenance import git_commit, gpu_facts, package_commit
from tests.plan.test_ci_plan import write_result

A, B = "a" * 40, "b" * 40


def test_commit_of_a_plain_checkout_loose_ref(tmp_path: Path) -> None:
    (tmp_path / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git" / "refs" / "heads" / "main").write_text(A + "\n")
    assert git_commit(tmp_path) == A


def test_commit_of_a_worktree_from_packed_refs(tmp_path: Path) -> None:
    """A worktree's .git is a file; its branch ref is in the main repository's packed-refs."""
    main = tmp_path / "main" / ".git"
    (main / "worktrees" / "wt").mkdir(parents=True)
    (main / "packed-refs").write_text(f"# pack-refs with: peeled\n{B} refs/heads/other\n"
                                      f"{A} refs/heads/wt\n")  # fmt: skip
    (main / "worktrees" / "wt" / "HEAD").write_text("ref: refs/heads/wt\n")
    (main / "worktrees" / "wt" / "commondir").write_text("../..\n")
    checkout = tmp_path / "wt"
    checkout.mkdir()
    (checkout / ".git").write_text(f"gitdir: {main / 'worktrees' / 'wt'}\n")
    assert git_commit(checkout) == A


def test_detached_head_and_no_checkout(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None  # an installed wheel: no .git
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text(B + "\n")
    assert git_commit(tmp_path) == B


def fake_dist(site: Path, name: str, direct_url: dict[str, Any] | None) -> None:
    info = site / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def test_commit_of_a_git_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The shape pip writes for `pip install git+https://...@<commit>` (PEP 610).
    fake_dist(tmp_path, "fake-engine-git", {"url": "https://github.com/x/y", "vcs_info": {
        "vcs": "git", "commit_id": A, "requested_revision": "main"}})  # fmt: skip
    fake_dist(tmp_path, "fake-engine-index", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert package_commit("fake-engine-git") == A
    assert package_commit("fake-engine-index") is None  # a release from an index
    assert package_commit("not-installed-anywhere") is None


class FakeNvml:
    class NVMLError(Exception):
        pass

    def nvmlSystemGetDriverVersion(self) -> bytes:  # older nvidia-ml-py returns bytes
        return b"550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040  # NVML: 1000 * major + 10 * minor

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return ["NVIDIA H100 80GB HBM3", "NVIDIA H200"][handle]


def test_gpu_facts_follow_the_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextlib.contextmanager
    def fake() -> Iterator[FakeNvml]:
        yield FakeNvml()

    monkeypatch.setattr(provenance, "nvml", fake)
    facts = gpu_facts({"CUDA_VISIBLE_DEVICES": "1"})
    assert facts == {"driver": "550.54.15", "cuda": "12.4", "gpus": ["NVIDIA H200"]}
    assert len(gpu_facts({})["gpus"]) == 2


def test_report_shows_provenance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    block = {"runner_version": "0.1.0", "runner_commit": A, "sglang_version": "0.5.5",
             "sglang_commit": B, "sgl_kernel_version": "0.3.16", "host": "gpu-7",
             "gpus": ["NVIDIA H200", "NVIDIA H200"], "driver": "550.54.15", "cuda": "12.4",
             "cuda_visible_devices": "0,1", "python": "3.12.3"}  # fmt: skip
    for n, host in enumerate(("gpu-7", "gpu-9")):
        write_result(tmp_path / "results", f"job(model='m{n}')", "base-b", "passed",
                     provenance={**block, "host": host},
                     started_at=f"2025-01-0{n + 1}T00:00:00+00:00",
                     finished_at=f"2025-01-0{n + 1}T01:00:00+00:00")  # fmt: skip
    assert main_exit_code(["report", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert (
        f"ran with: runner 0.1.0 ({A[:12]}); SGLang 0.5.5 ({B[:12]}); sgl-kernel 0.3.16; "
        "host gpu-7 / gpu-9; GPU 2 x NVIDIA H200; driver 550.54.15; CUDA 12.4; "
        "CUDA_VISIBLE_DEVICES 0,1; Python 3.12.3; "
        "from 2025-01-01T00:00:00+00:00 to 2025-01-02T01:00:00+00:00"
    ) in out
