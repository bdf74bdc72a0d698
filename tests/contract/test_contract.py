"""The contract checks against a parser of the test's own (the one faked seam); the
real parser of the pinned release is exercised by `nox -s contract`."""

from __future__ import annotations

import argparse

import pytest

from sglang_ci.contract.check import check_argv, check_routes
from sglang_ci.contract.routes import decorated_routes, mounted_routes

RELEASE = "sglang 9.9"


class DeprecatedAction(argparse.Action):
    """Named like SGLang's own: the class name marks it deprecated."""

    def __call__(self, parser: object, namespace: object, values: object,
                 option_string: str | None = None) -> None:  # fmt: skip
        setattr(namespace, self.dest, values)


def parser() -> argparse.ArgumentParser:
    built = argparse.ArgumentParser()
    built.add_argument("--model-path", required=True)
    built.add_argument("--tp-size", type=int)
    built.add_argument("--speculative-num-steps", type=int)
    built.add_argument("--attention-backend", choices=["triton", "fa3", "flashinfer"])
    built.add_argument("--enable-metrics", action="store_true")
    built.add_argument(
        "--hybrid-kvcache-ratio",
        action=DeprecatedAction,
        type=float,
        help="deprecated now. Please use --swa-full-tokens-ratio instead.",
    )
    return built


def lines(argv: list[str]) -> list[str]:
    return [f.line() for f in check_argv(parser(), ["--model-path", "m", *argv], "job [server]",
                                         RELEASE)]  # fmt: skip


def test_valid_arguments_pass() -> None:
    assert lines(["--tp-size", "2", "--attention-backend", "fa3", "--enable-metrics"]) == []


def test_misspelt_flag_names_the_closest() -> None:
    assert lines(["--speculative-num-step", "5"]) == [
        "error: job [server]: --speculative-num-step is not a flag of sglang 9.9;"
        " closest: --speculative-num-steps"
    ]


def test_removed_flag() -> None:
    (line,) = lines(["--enable-nan-detection"])
    assert line.startswith(
        "error: job [server]: --enable-nan-detection is not a flag of sglang 9.9"
    )


def test_abbreviation_is_not_accepted() -> None:
    """argparse would take --tp for --tp-size; the contract wants the real name."""
    (line,) = lines(["--tp", "2"])
    assert "--tp is not a flag of sglang 9.9; closest: --tp-size" in line


def test_bad_choice() -> None:
    (line,) = lines(["--attention-backend", "tritonx"])
    assert line.startswith("error: job [server]: argument --attention-backend: invalid choice:")
    assert "'tritonx'" in line and line.endswith("(sglang 9.9)")
    assert "\n" not in line


def test_bad_value_type() -> None:
    (line,) = lines(["--tp-size", "two"])
    assert "argument --tp-size: invalid int value: 'two'" in line


def test_deprecated_flag_is_a_warning_naming_its_replacement() -> None:
    assert lines(["--hybrid-kvcache-ratio", "0.5"]) == [
        "warning: job [server]: --hybrid-kvcache-ratio is deprecated in sglang 9.9;"
        " use --swa-full-tokens-ratio instead"
    ]


SERVER_SOURCE = """
@app.get("/health")
@app.get("/health_generate")
async def health(): ...

@app.api_route(
    "/generate",
    methods=["POST", "PUT"],
)
async def generate(): ...

def setup(app):
    app.mount("/static", files)
    routes.append(Mount("/metrics", make_asgi_app()))
"""


def test_routes_read_from_source() -> None:
    assert decorated_routes(SERVER_SOURCE) == {"/health", "/health_generate", "/generate"}
    assert mounted_routes(SERVER_SOURCE) == {"/metrics"}


@pytest.mark.parametrize("missing", ["/flush_cache", "/v1/completions"])
def test_missing_route(missing: str) -> None:
    served = {"/health", "/generate"}
    (finding,) = check_routes([missing, "/health"], served, "endpoints", RELEASE)
    assert (
        finding.line() == f"error: endpoints: {missing} is not a route of sglang 9.9's HTTP server"
    )


def test_value_given_to_a_flag_that_takes_none() -> None:
    """SGLang parses with parse_args: a left-over value is refused, not ignored."""
    (line,) = lines(["--enable-metrics", "yes"])
    assert line.startswith("error: job [server]: unrecognized arguments: yes")
