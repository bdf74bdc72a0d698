"""The contract across releases: min-sglang (model or job), which jobs a release is
checked for, and a flag missing from a release a job claims, named with job and release.
The release's parser is the test's own, built from the flags the fixture's jobs pass
(the real parsers are exercised by the nox sessions contract(sglang=...))."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.model import load_config
from sglang_ci.config.releases import release_order
from sglang_ci.config.schema import Config, Job
from sglang_ci.contract import CONTRACT_PYTHON, SGLANG_FIRST, SGLANG_RELEASES
from sglang_ci.contract.__main__ import PORTS, check_jobs, claims, unclaimed
from sglang_ci.plan.commands import router_command, server_command, url
from tests.conftest import FIXTURES, ROOT, ConfigEdit

WriteConfig = Callable[[ConfigEdit], Path]


def load(path: Path) -> Config:
    return load_config(str(path), {}, path.parent)


def server_flags(job: Job) -> set[str]:
    return {
        token
        for role in job.deployment.servers
        for token in server_command("python", "sglang", job.deployment, role, 30000, 8998)
        if token.startswith("--")
    }


def router_flags(jobs: list[Job]) -> set[str]:
    return {
        token
        for job in jobs
        if job.deployment.disaggregated
        for token in router_command("python", job.model.pd_router, url(30001), 8998, url(30002),
                                    30003, 29001)
        if token.startswith("--")
    }  # fmt: skip


def release_parser(flags: set[str]) -> argparse.ArgumentParser:
    """A release that has exactly these flags, each taking a value or none."""
    parser = argparse.ArgumentParser(add_help=False)
    for flag in sorted(flags):
        parser.add_argument(flag, nargs="?")
    return parser


def test_release_order_is_numeric() -> None:
    ordered = ["0.5.9", "0.5.12", "0.5.12.post1", "0.5.13", "0.5.23", "0.6.0"]
    assert sorted(reversed(ordered), key=release_order) == ordered


def test_min_sglang_from_the_model_a_job_may_raise_it(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["models"]["llama-eagle3"]["min-sglang"] = "0.5.12"
        doc["stages"]["base-b"]["jobs"][0]["min-sglang"] = "0.5.23"

    config = load(write_config(edit))
    raised = config.stage_jobs("base-b")[0]
    assert raised.model.alias == "llama-eagle3" and raised.min_sglang == "0.5.23"
    for job in config.jobs.values():
        if job is not raised:
            assert job.min_sglang == ("0.5.12" if job.model.alias == "llama-eagle3" else "")
    assert not claims(raised, "0.5.12") and claims(raised, "0.5.23")
    assert claims(config.stage_jobs("base-a")[0], "0.5.12")  # none declared: every release


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("v0.5.12", "models.llama-eagle3.min-sglang: expected a release number such as"
                    " \"0.5.12\", got 'v0.5.12'"),
        ("0.5.12rc1", "got '0.5.12rc1'"),
    ],
)  # fmt: skip
def test_bad_min_sglang(write_config: WriteConfig, value: str, expected: str) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["models"]["llama-eagle3"]["min-sglang"] = value

    with pytest.raises(ConfigError) as caught:
        load(write_config(edit))
    assert expected in str(caught.value) and caught.value.return_code == 2


def test_a_job_may_not_lower_its_models_min_sglang(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["models"]["llama-eagle3"]["min-sglang"] = "0.5.12"
        doc["stages"]["base-b"]["jobs"][0]["min-sglang"] = "0.5.10.post1"

    with pytest.raises(ConfigError) as caught:
        load(write_config(edit))
    assert "stages.base-b.jobs[0]" in str(caught.value)
    assert "min-sglang: 0.5.10.post1 is older than its model's min-sglang 0.5.12" in str(
        caught.value
    )


def test_misspelt_flag_names_job_flag_and_release(write_config: WriteConfig) -> None:
    valid = load(write_config(lambda doc: None))
    release = release_parser({flag for job in valid.jobs.values() for flag in server_flags(job)})

    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["base-b"]["jobs"][0]["args"] = {"speculative-num-step": 5}

    config = load(write_config(edit))
    job = config.stage_jobs("base-b")[0]
    router = release_parser(router_flags(list(valid.jobs.values())))
    findings, _ = check_jobs(config.jobs.values(), release, router, f"sglang {SGLANG_FIRST}", "r")
    assert [f.line() for f in findings] == [
        f"error: {job.id} [server]: --speculative-num-step is not a flag of sglang"
        f" {SGLANG_FIRST}; closest: --speculative-num-steps"
    ]


def test_a_flag_missing_from_a_release_fails_only_the_jobs_that_claim_it(
    write_config: WriteConfig,
) -> None:
    """A release without --speculative-eagle-topk: every job passing it that claims the
    release is an error; a job whose min-sglang is newer is not checked against it."""

    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["base-b"]["jobs"][0]["min-sglang"] = "0.6.0"

    config = load(write_config(edit))
    gone = "--speculative-eagle-topk"
    release = release_parser(
        {flag for job in config.jobs.values() for flag in server_flags(job)} - {gone}
    )
    claiming = [job for job in config.jobs.values() if claims(job, "0.5.23")]
    router = release_parser(router_flags(claiming))
    findings, checked = check_jobs(claiming, release, router, "sglang 0.5.23", "router")
    passing = {job.id for job in claiming if gone in server_flags(job)}
    newer = config.stage_jobs("base-b")[0]
    assert gone in server_flags(newer) and newer not in claiming
    assert passing and checked == sum(len(job.deployment.servers) for job in claiming)
    assert sorted(f.line().split(";")[0] for f in findings) == sorted(
        f"error: {job_id} [{server.role}]: {gone} is not a flag of sglang 0.5.23"
        for job_id in passing
        for server in config.jobs[job_id].deployment.servers
    )


def test_a_job_newer_than_every_checked_release_is_an_error(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["base-b"]["jobs"][0]["min-sglang"] = "9.0"

    config = load(write_config(edit))
    job = config.stage_jobs("base-b")[0]
    assert [f.line() for f in unclaimed(config.jobs.values(), SGLANG_RELEASES)] == [
        f"error: {job.id}: min-sglang 9.0 is newer than every release the contract checks"
        f" (latest: sglang {max(SGLANG_RELEASES, key=release_order)}); bump SGLANG_LATEST"
    ]


def test_ports_cover_every_role() -> None:
    config = load_config(None, {}, FIXTURES)  # a single server and both PD roles
    roles = {role.role for job in config.jobs.values() for role in job.deployment.servers}
    assert roles <= set(PORTS)


@pytest.mark.real_process
@pytest.mark.long
def test_no_cpu_torch_stops_with_one_line(tmp_path: Path) -> None:
    """No CPU build reachable (no index, an empty find-links directory): the session stops
    before installing anything else, saying how to provide one; never a CUDA build."""
    empty = tmp_path / "wheels"
    empty.mkdir()
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(empty)}
    result = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "--envdir",
         str(tmp_path / "envs"), "-s", f"contract(sglang='{SGLANG_FIRST}')"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "no CPU build of torch" in line]
    (line,) = lines
    assert (
        f"contract: no CPU build of torch (torch==2.13.0+cpu) reachable for Python"
        f" {CONTRACT_PYTHON}: put its wheel in a directory on PIP_FIND_LINKS, or set"
        " PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu" in line
    )
    assert "sglang==" not in result.stderr  # stopped before anything else was installed
    site = list((tmp_path / "envs").rglob("site-packages"))
    assert site and not list(site[0].glob("torch*"))
