"""Every validation rule of stages.toml, each against the fixture config broken in one way
(tests/fixtures/stages.toml); tests/test_shipped_stages.py checks the project's real file."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Config
from tests.conftest import FIXTURES, ConfigEdit

WriteConfig = Callable[[ConfigEdit], Path]


def load(path: Path) -> Config:
    return load_config(str(path), {}, path.parent)


def error_for(write_config: WriteConfig, edit: ConfigEdit) -> str:
    with pytest.raises(ConfigError) as caught:
        load(write_config(edit))
    message = str(caught.value)
    assert "\n" not in message, "a config error is one line"
    assert caught.value.return_code == 2
    return message


# ------------------------------------------------------------------ the fixture file


def test_default_backend_stays_out_of_the_signature() -> None:
    config = load_config(None, {}, FIXTURES)
    triton = config.jobs["spec(model='llama-standalone', topk=2)"]
    assert ("attention-backend", "triton") in triton.deployment.servers[0].args
    assert ("enable-deterministic-inference", True) in triton.deployment.servers[0].args
    flashinfer = config.jobs["spec(model='llama-standalone', topk=2, backend='flashinfer')"]
    assert ("attention-backend", "flashinfer") in flashinfer.deployment.servers[0].args
    assert "enable-deterministic-inference" not in dict(flashinfer.deployment.servers[0].args)


def test_decode_is_placed_after_prefill() -> None:
    job = load_config(None, {}, FIXTURES).jobs["disagg(model='dsv4-flash')"]
    prefill, decode = job.deployment.servers
    assert (prefill.role, list(prefill.gpu_ids)) == ("prefill", [0, 1, 2, 3])
    assert (decode.role, list(decode.gpu_ids)) == ("decode", [4, 5, 6, 7])


def test_config_path_order(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text((FIXTURES / "stages.toml").read_text())
    (tmp_path / "baselines.toml").write_text((FIXTURES / "baselines.toml").read_text())
    assert load_config(None, {"SGLANG_CI_CONFIG": str(other)}, FIXTURES).source == other
    assert load_config(str(other), {"SGLANG_CI_CONFIG": "missing.toml"}, FIXTURES).source == other
    assert load_config(None, {}, FIXTURES).source == FIXTURES / "stages.toml"


# ------------------------------------------------------------------ the rules


def test_unknown_key_suggests_the_right_one(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["jobs"][1]["est_time"] = 10

    message = error_for(write_config, edit)
    assert (
        "stages.extra-a.jobs[1]: unknown key 'est_time'. Perhaps you meant 'est-time'?" in message
    )


def test_unknown_top_level_key(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stage"] = {}

    assert "unknown key 'stage'. Perhaps you meant 'stages'?" in error_for(write_config, edit)


def test_wrong_type_names_the_key(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["gpus"] = "2"

    message = error_for(write_config, edit)
    assert "stages.extra-a.gpus: expected an integer, got a string" in message


def test_bool_is_not_a_number(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["base-b"]["jobs"][0]["est-time"] = True

    assert "stages.base-b.jobs[0].est-time: expected a number, got true or false" in error_for(
        write_config, edit
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("model", "gemma4-31", "unknown model 'gemma4-31'. Perhaps you meant 'gemma4-31b'?"),
        ("suite", "specs", "unknown suite 'specs'. Perhaps you meant 'spec'?"),
    ],
)
def test_unknown_reference(write_config: WriteConfig, key: str, value: str, expected: str) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["jobs"][1][key] = value

    message = error_for(write_config, edit)
    assert f"stages.extra-a.jobs[1].{key}: {expected}" in message


def test_unknown_stage_reference(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["after"] = ["base_b"]

    message = error_for(write_config, edit)
    assert "stages.extra-a.after[0]: unknown stage 'base_b'. Perhaps you meant 'base-b'?" in message


def test_stage_cycle(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["base-a"]["after"] = ["extra-a"]

    assert "wait on each other in a cycle" in error_for(write_config, edit)


def test_duplicate_job_id(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        copy = tomlkit.parse(tomlkit.dumps(doc))["stages"]["extra-a"]["jobs"][2]
        doc["stages"]["base-b"]["jobs"].append(copy)

    message = error_for(write_config, edit)
    # base-b is read first, so the entry in extra-a is the duplicate.
    assert re.search(
        r"stages\.extra-a\.jobs\[2\]: duplicate job id spec\(model='llama-standalone', topk=2\):"
        r" already defined at stages\.base-b\.jobs\[2\]",
        message,
    ), message


def test_scored_job_without_threshold(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        del doc["stages"]["extra-a"]["jobs"][1]["thresholds"]

    message = error_for(write_config, edit)
    assert (
        "stages.extra-a.jobs[1]: spec(model='gemma4-31b', topk=3): a scored job 'gsm8k'"
        " has no threshold" in message
    )


def test_check_without_threshold(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        del doc["suites"]["spec"]["thresholds"]

    assert "check 'accept-length' has no threshold" in error_for(write_config, edit)


def test_suite_may_not_default_the_score(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["suites"]["spec"]["thresholds"]["gsm8k"] = 0.5

    assert "suites.spec.thresholds.gsm8k: a suite may default" in error_for(write_config, edit)


def test_threshold_out_of_range(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["jobs"][1]["thresholds"]["gsm8k"] = 77.5

    message = error_for(write_config, edit)
    assert "stages.extra-a.jobs[1].thresholds.gsm8k: 77.5 is outside gsm8k's range 0..1" in message


def test_accept_length_on_a_model_without_speculation(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["base-a"]["jobs"][0]["thresholds"]["accept-length"] = 2.0

    assert "runs no speculative decoding" in error_for(write_config, edit)


def test_job_without_est_time(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        del doc["stages"]["base-b"]["jobs"][1]["est-time"]

    message = error_for(write_config, edit)
    assert "stages.base-b.jobs[1]: spec(model='llama-eagle3', topk=3) has no est-time" in message


def test_suite_est_time_is_the_default(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        del doc["stages"]["base-b"]["jobs"][1]["est-time"]
        doc["suites"]["spec"]["est-time"] = 99

    job = load(write_config(edit)).jobs["spec(model='llama-eagle3', topk=3)"]
    assert job.est_time == 99


def test_seed_004_mistake_is_rejected_with_the_arithmetic(write_config: WriteConfig) -> None:
    """tp 4, dp 4 without dp-attention: 16 GPUs per role, 32 on an 8-GPU stage."""

    def edit(doc: tomlkit.TOMLDocument) -> None:
        del doc["models"]["dsv4-flash"]["args"]["enable-dp-attention"]
        del doc["models"]["dsv4-flash"]["roles"]["decode"]["args"]

    message = error_for(write_config, edit)
    assert (
        "stages.stage-c-dsv4.jobs[0]: disagg(model='dsv4-flash') needs 32 GPUs"
        " (prefill: tp 4 x pp 1 x dp 4 = 16 + decode: tp 4 x pp 1 x dp 4 = 16)"
        " but stage 'stage-c-dsv4' has 8" in message
    )
    assert "enable-dp-attention" in message


def test_explicit_base_gpu_id_counts_toward_the_need(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["models"]["dsv4-flash"]["roles"]["decode"]["args"]["base-gpu-id"] = 6

    message = error_for(write_config, edit)
    assert "needs 10 GPUs" in message
    assert "--base-gpu-id places the last server up to GPU 9" in message


def test_overlapping_roles(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["models"]["dsv4-flash"]["roles"]["decode"]["args"]["base-gpu-id"] = 2

    message = error_for(write_config, edit)
    assert "prefill (GPUs 0-3) and decode (GPUs 2-5) share GPUs" in message


def test_single_server_gpu_need_exceeds_stage(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["models"]["gemma4-31b"]["args"]["tp-size"] = 4

    message = error_for(write_config, edit)
    assert "needs 4 GPUs (tp 4 x pp 1 x dp 1 = 4) but stage 'extra-a' has 2" in message


def test_abbreviated_flag(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["models"]["gemma4-31b"]["args"]["tp"] = 2

    message = error_for(write_config, edit)
    assert "models.gemma4-31b.args.tp: write 'tp-size'" in message


def test_seed_004_mistake_in_long_flag_names_is_refused(write_config: WriteConfig) -> None:
    """SGLang's long aliases would hide the parallelism from the GPU arithmetic."""

    def edit(doc: tomlkit.TOMLDocument) -> None:
        args = doc["models"]["dsv4-flash"]["args"]
        del args["tp-size"], args["dp-size"], args["enable-dp-attention"]
        args["tensor-parallel-size"] = 4
        args["data-parallel-size"] = 4

    message = error_for(write_config, edit)
    assert "models.dsv4-flash.args.tensor-parallel-size: write 'tp-size'" in message


def test_runner_owned_flag(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["models"]["gemma4-31b"]["args"]["port"] = 30000

    assert "models.gemma4-31b.args.port: the runner sets --port" in error_for(write_config, edit)


def test_axis_the_suite_does_not_have(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["base-a"]["jobs"][0]["topk"] = 2

    message = error_for(write_config, edit)
    assert "stages.base-a.jobs[0]: unknown key 'topk'" in message


def test_topk_needs_a_speculative_model(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        del doc["models"]["gemma4-31b"]["args"]["speculative-algorithm"]

    assert "model 'gemma4-31b' sets no speculative-algorithm" in error_for(write_config, edit)


def test_pd_suite_needs_roles(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["stage-c-dsv4"]["jobs"][0]["model"] = "gemma4-31b"

    assert "declares no roles.prefill / roles.decode" in error_for(write_config, edit)


def test_array_axis_names_the_failing_cell(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["jobs"][3]["backend"] = ["flashinfer", "flashinfer"]

    assert "stages.extra-a.jobs[3].backend: a value is listed twice" in error_for(
        write_config, edit
    )


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "stages.toml"
    path.write_text("[models\n")
    with pytest.raises(ConfigError, match=r"stages\.toml: invalid TOML: .*line 1"):
        load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found; pass --config PATH"):
        load(tmp_path / "nope.toml")


@pytest.mark.parametrize("name", ["tests", "stage"])
def test_suite_may_not_shadow_a_noxfile_session(write_config: WriteConfig, name: str) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["suites"][name] = doc["suites"]["sanity"]
        del doc["suites"]["sanity"]
        for job in doc["stages"]["base-a"]["jobs"]:
            job["suite"] = name

    assert f"suites.{name}: '{name}' is a session of the noxfile itself" in error_for(
        write_config, edit
    )


def test_names_are_unique_tags(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["gemma4-31b"] = doc["stages"]["stage-c-dsv4"]
        del doc["stages"]["stage-c-dsv4"]

    message = error_for(write_config, edit)
    assert "models.gemma4-31b: 'gemma4-31b' is also stages.gemma4-31b" in message


def test_job_args_may_not_set_an_axis_flag(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        job = doc["stages"]["extra-a"]["jobs"][2]
        del job["backend"]
        job["args"]["attention-backend"] = "flashinfer"

    message = error_for(write_config, edit)
    where = "stages.extra-a.jobs[2].args.attention-backend"
    assert f"{where}: set the 'backend' axis instead" in message


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("stages", "extra-a", "jobs", 1, "thresholds", "gsm8k"), float("nan"), "finite"),
        (("stages", "extra-a", "jobs", 1, "est-time"), float("inf"), "finite"),
        (("stages", "extra-a", "jobs", 1, "topk"), -3, "must be 1 or more"),
        (("stages", "extra-a", "jobs", 2, "eval", "num-shots"), -5, "must be 0 or more"),
        (("suites", "spec", "checks"), ["accept-length", "accept-length"], "listed twice"),
        (("suites", "spec", "checks"), ["gsm8k"], "listed twice"),
        (("suites", "sanity", "checks"), ["gsm8k"], "is an eval: make it the suite's score"),
        (("models", "gemma4-31b", "env"), {"A=B": "1"}, "not a valid environment variable"),
    ],
)
def test_bad_values(
    write_config: WriteConfig, path: tuple[str | int, ...], value: object, expected: str
) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    assert expected in error_for(write_config, edit)


def test_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "stages.toml"
    path.write_bytes(b'x = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(path)
