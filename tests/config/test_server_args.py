"""Server-arg arithmetic and argv, against SGLang's rules."""

from __future__ import annotations

import pytest

from sglang_ci.config.deployment import place
from sglang_ci.config.server_args import Args, flag_problem, gpu_need, merge, to_argv


@pytest.mark.parametrize(
    ("args", "count"),
    [
        ((), 1),
        ((("tp-size", 2),), 2),
        ((("tp-size", 4), ("dp-size", 4)), 16),
        ((("tp-size", 4), ("dp-size", 4), ("enable-dp-attention", True)), 4),
        ((("tp-size", 2), ("pp-size", 2), ("dp-size", 2)), 8),
        ((("tp-size", 2), ("pp-size", 2), ("dp-size", 2), ("enable-dp-attention", True)), 4),
        ((("tp-size", 4), ("dp-size", 4), ("enable-dp-attention", False)), 16),
    ],
)
def test_gpu_need(args: Args, count: int) -> None:
    assert gpu_need(args).count == count


def test_gpu_need_formula_names_the_factors() -> None:
    assert gpu_need((("tp-size", 4), ("dp-size", 4))).formula == "tp 4 x pp 1 x dp 4 = 16"


def test_argv_forms() -> None:
    args = (
        ("skip-server-warmup", True),
        ("enable-metrics", False),
        ("tp-size", 2),
        ("mem-fraction-static", 0.55),
        ("json-model-override-args", ("a", "b")),
    )
    assert to_argv(args) == [
        "--skip-server-warmup",
        "--tp-size",
        "2",
        "--mem-fraction-static",
        "0.55",
        "--json-model-override-args",
        "a",
        "b",
    ]


def test_merge_keeps_place_and_appends() -> None:
    merged = merge((("a", 1), ("b", 2)), [("b", 3), ("c", 4)])
    assert merged == (("a", 1), ("b", 3), ("c", 4))


@pytest.mark.parametrize(
    ("flag", "problem"),
    [
        ("--tp-size", "without its leading dashes"),
        ("tp_size", "lowercase words joined by '-'"),
        ("dp", "write 'dp-size'"),
        ("tensor-parallel-size", "write 'tp-size'"),
        ("tp-si", "write 'tp-size'"),
        ("data-parallel", "write 'dp-size'"),
        ("enable-dp", "write 'enable-dp-attention'"),
        ("host", "binds every server to 127.0.0.1"),
        ("disaggregation-mode", "follows from the role name"),
    ],
)
def test_flag_problems(flag: str, problem: str) -> None:
    assert problem in (flag_problem(flag) or "")


def test_ordinary_flag_is_fine() -> None:
    assert flag_problem("speculative-eagle-topk") is None


def test_placement_after_previous_role_writes_base_gpu_id() -> None:
    deployment = place("m", [("prefill", (("tp-size", 2),), ()), ("decode", (("tp-size", 2),), ())])
    prefill, decode = deployment.servers
    assert list(prefill.gpu_ids) == [0, 1] and "base-gpu-id" not in dict(prefill.args)
    assert list(decode.gpu_ids) == [2, 3] and dict(decode.args)["base-gpu-id"] == 2
    assert deployment.gpus == 4


def test_explicit_gap_counts() -> None:
    deployment = place("m", [("prefill", (), ()), ("decode", (("base-gpu-id", 5),), ())])
    assert deployment.gpus == 6
    assert deployment.overlap() is None
