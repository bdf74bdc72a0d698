"""[renamed-flags]: a job written once runs on releases on both sides of an SGLang flag
rename, each getting the spelling it knows; bad entries fail in one line; the contract
check names a rename whose spelling a release lacks.

The rename under test is SGLang's own: --cuda-graph-max-bs is a deprecated alias of
--cuda-graph-max-bs-decode from sglang 0.5.14 (server_args.py of that wheel), and 0.5.23's
parser no longer has it (nox -s "contract(sglang='0.5.23')" shows both). The tests add it
to the fixture config, as the sanity seed's model writes it; that the shipped stages.toml
declares it is tests/test_shipped_stages.py's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.model import load_config
from sglang_ci.config.releases import FlagRename, release_order, spelled_for
from sglang_ci.config.schema import Config
from sglang_ci.contract.check import check_argv, check_renames
from sglang_ci.plan.commands import server_command
from sglang_ci.plan.dry_run import render_plan, server_info_expectations
from tests.conftest import ConfigEdit, run_python

WriteConfig = Callable[[ConfigEdit], Path]
SANITY = "sanity(model='llama3-8b')"
RENAME = FlagRename("cuda-graph-max-bs", "cuda-graph-max-bs-decode", "0.5.14")


def add_rename(doc: tomlkit.TOMLDocument) -> None:
    """The fixture with SGLang's rename declared and llama3-8b passing the old spelling,
    as test_basic_sanity.py does (--cuda-graph-max-bs 4)."""
    doc["renamed-flags"] = {RENAME.old: {"to": RENAME.new, "since": RENAME.since}}
    doc["models"]["llama3-8b"]["args"][RENAME.old] = 4


@pytest.fixture
def renamed(write_config: WriteConfig) -> Callable[[str | None], Config]:
    """The fixture config with the rename, spelt for a release."""
    path = write_config(add_rename)
    return lambda release: load_config(str(path), {}, path.parent, sglang_release=release)


def argv(config: Config, job_id: str) -> list[str]:
    job = config.jobs[job_id]
    server = job.deployment.servers[0]
    return server_command("python", "sglang", job.deployment, server, 30000)


# cuda-graph-max-bs became cuda-graph-max-bs-decode in 0.5.14: the spelling per release.
SPELLINGS = [
    ("0.5.12", "cuda-graph-max-bs"), ("0.5.13.post1", "cuda-graph-max-bs"),
    ("0.5.14", "cuda-graph-max-bs-decode"), ("0.5.23", "cuda-graph-max-bs-decode"),
    ("0.5.24.dev3+g1a2b3c", "cuda-graph-max-bs-decode"),
]  # fmt: skip


@pytest.mark.parametrize(("release", "spelling"), SPELLINGS)
def test_each_release_gets_its_own_spelling_of_the_rename(
    renamed: Callable[[str | None], Config], release: str, spelling: str
) -> None:
    command = argv(renamed(release), SANITY)
    assert command[command.index(f"--{spelling}") + 1] == "4"
    other = {"cuda-graph-max-bs", "cuda-graph-max-bs-decode"} - {spelling}
    assert f"--{other.pop()}" not in command


def test_unknown_release_passes_the_flags_as_written_and_the_plan_says_so(
    renamed: Callable[[str | None], Config],
) -> None:
    config = renamed(None)
    assert "--cuda-graph-max-bs" in argv(config, SANITY)
    job = config.jobs[SANITY]
    plan = render_plan(job, config.stages[job.stage], "sglang")
    assert "--cuda-graph-max-bs as written (no SGLang release installed here)" in plan
    spelt = renamed("0.5.23").jobs[SANITY]
    plan = render_plan(spelt, config.stages[job.stage], "sglang")
    assert "--cuda-graph-max-bs-decode 4" in plan
    assert "spelt for the installed sglang 0.5.23" in plan


def test_a_job_without_a_renamed_flag_is_left_as_it_is(
    renamed: Callable[[str | None], Config],
) -> None:
    old, new = renamed("0.5.12"), renamed("0.5.23")
    untouched = [job_id for job_id, job in new.jobs.items() if not job.renamed_flags]
    assert untouched and SANITY not in untouched  # only llama3-8b passes the renamed flag
    for job_id in untouched:
        assert new.jobs[job_id] == old.jobs[job_id]


def test_a_job_may_write_the_new_spelling_and_still_run_on_the_old_release(
    write_config: WriteConfig,
) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["renamed-flags"] = {RENAME.old: {"to": RENAME.new, "since": RENAME.since}}
        doc["models"]["llama3-8b"]["args"][RENAME.new] = 4

    path = write_config(edit)
    for release, flag in (("0.5.12", RENAME.old), ("0.5.23", RENAME.new), (None, RENAME.new)):
        config = load_config(str(path), {}, path.parent, sglang_release=release)
        assert f"--{flag}" in argv(config, SANITY), release


def test_verify_flags_follow_the_rename(write_config: WriteConfig) -> None:
    """/server_info reports the field of the release's own flag name."""

    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["renamed-flags"] = {RENAME.old: {"to": RENAME.new, "since": RENAME.since}}
        doc["models"]["llama3-8b"]["args"][RENAME.old] = 4
        doc["suites"]["sanity"]["verify"] = ["enable-metrics", RENAME.old]

    path = write_config(edit)
    old = load_config(str(path), {}, path.parent, sglang_release="0.5.12").jobs[SANITY]
    new = load_config(str(path), {}, path.parent, sglang_release="0.5.23").jobs[SANITY]
    assert server_info_expectations(old) == ["enable_metrics == True, cuda_graph_max_bs == 4"]
    assert server_info_expectations(new) == [
        "enable_metrics == True, cuda_graph_max_bs_decode == 4"
    ]


def test_spelled_for_keeps_order_and_values() -> None:
    args = (("mem-fraction-static", 0.7), (RENAME.old, 8), ("enable-metrics", True))
    assert spelled_for(args, [RENAME], "0.5.23") == (
        ("mem-fraction-static", 0.7), (RENAME.new, 8), ("enable-metrics", True),
    )  # fmt: skip
    assert spelled_for(args, [RENAME], None) == args
    assert release_order("0.5.24.dev3+g1a2b3c") == (0, 5, 24)
    assert release_order("0.5.12.post1") > release_order("0.5.12")


@pytest.mark.parametrize(
    ("edit_table", "message"),
    [
        ({"cuda-graph-max-bs": {"to": "cuda-graph-max-bs-decode"}},
         "renamed-flags.cuda-graph-max-bs: missing required key 'since'"),
        ({"cuda-graph-max-bs": {"to": "x-y", "since": "soon"}},
         "renamed-flags.cuda-graph-max-bs.since: expected a release number"),
        ({"cuda-graph-max-bs": {"to": "x-y", "since": "0.5.14", "until": "0.6"}},
         "renamed-flags.cuda-graph-max-bs: unknown key 'until'"),
        ({"--cuda-graph-max-bs": {"to": "x-y", "since": "0.5.14"}},
         "renamed-flags.--cuda-graph-max-bs: write the flag without its leading dashes"),
        ({"tp-size": {"to": "tensor-parallel-size", "since": "0.5.14"}},
         "renamed-flags.tp-size: a GPU-count flag is never renamed here"),
        ({"port": {"to": "listen-port", "since": "0.5.14"}},
         "renamed-flags.port: the runner sets --port"),
        ({"a-b": {"to": "c-d", "since": "0.5.14"}, "c-d": {"to": "e-f", "since": "0.6.0"}},
         "renamed-flags: 'c-d' appears in two renames"),
        ({"a-b": {"to": "a-b", "since": "0.5.14"}},
         "renamed-flags.a-b.to: 'a-b' renames the flag to itself"),
    ],
)  # fmt: skip
def test_bad_renamed_flags_fail_in_one_line(
    write_config: WriteConfig, edit_table: dict[str, object], message: str
) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["renamed-flags"] = edit_table

    path = write_config(edit)
    with pytest.raises(ConfigError) as error:
        load_config(str(path), {}, path.parent, sglang_release=None)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.real_process
def test_a_job_setting_both_spellings_fails_naming_the_job(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["renamed-flags"] = {RENAME.old: {"to": RENAME.new, "since": RENAME.since}}
        doc["models"]["llama3-8b"]["args"][RENAME.old] = 4
        doc["stages"]["base-a"]["jobs"][0]["args"] = {RENAME.new: 8}

    path = write_config(edit)
    result = run_python("-m", "sglang_ci", "validate", "--config", str(path))
    assert result.returncode == 2, result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert "stages.base-a.jobs[0]" in lines[0]
    assert f"sets both '{RENAME.old}' and '{RENAME.new}'" in lines[0]


def release_parser(*flags: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    for flag in flags:
        parser.add_argument(flag, type=int)
    return parser


def test_contract_names_a_rename_whose_spelling_the_release_lacks(
    renamed: Callable[[str | None], Config],
) -> None:
    before, after = (
        release_parser("--cuda-graph-max-bs"),
        release_parser("--cuda-graph-max-bs-decode"),
    )
    assert check_renames(before, [RENAME], "0.5.12", "sglang 0.5.12") == []
    assert check_renames(after, [RENAME], "0.5.23", "sglang 0.5.23") == []
    wrong = FlagRename(RENAME.old, RENAME.new, "0.5.30")  # `since` set too late
    (finding,) = check_renames(after, [wrong], "0.5.23", "sglang 0.5.23")
    assert finding.error and finding.where == "renamed-flags.cuda-graph-max-bs"
    assert "--cuda-graph-max-bs (the spelling before 0.5.30) is not a flag of sglang 0.5.23" in (
        finding.message
    )
    # The job's own flags, spelt for each release, parse with that release's parser.
    for release, parser in (("0.5.12", before), ("0.5.23", after)):
        command = argv(renamed(release), SANITY)
        flags = [t for t in command[3:] if t.startswith("--cuda-graph")]
        assert check_argv(parser, [flags[0], "4"], SANITY, release) == []


def test_an_installed_version_that_is_no_release_number_counts_as_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    from sglang_ci.config import releases

    for version, expected in (("garbage", None), ("0.5.23+cu128", "0.5.23+cu128")):
        monkeypatch.setattr(metadata, "version", lambda _name, v=version: v)
        assert releases.installed_release() == expected


def test_a_rename_newer_than_every_pinned_release_is_an_error() -> None:
    from sglang_ci.contract.__main__ import unchecked_renames

    assert unchecked_renames([RENAME], ("0.5.12", "0.5.23")) == []
    late = FlagRename(RENAME.old, RENAME.new, "0.5.30")
    (finding,) = unchecked_renames([late], ("0.5.12", "0.5.23"))
    assert finding.error and finding.where == "renamed-flags.cuda-graph-max-bs"
    assert "since 0.5.30 is newer than every release the contract checks" in finding.message
