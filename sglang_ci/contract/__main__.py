"""``python -m sglang_ci.contract``: run inside the contract environment (nox -s contract).

Parses every job's server arguments, per role, with the real parser of the pinned
SGLang release, checks the endpoints we call against its HTTP server's routes and the
router arguments against the pinned sglang-router. One line per finding; exit 1 on any
error (warnings, such as a deprecated flag, do not fail).
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import warnings
from pathlib import Path

from sglang_ci.config.model import load_config
from sglang_ci.contract import SGLANG_ROUTER_VERSION, SGLANG_VERSION
from sglang_ci.contract.check import Finding, check_argv, check_routes
from sglang_ci.contract.parsers import router_parser, server_parser, sglang_package_dir
from sglang_ci.contract.routes import served_routes
from sglang_ci.plan.commands import ENDPOINTS, router_command, server_command, url

PORTS = {"prefill": 30001, "decode": 30002, "server": 30000}


def main() -> int:
    installed = importlib.metadata.version("sglang")
    router_installed = importlib.metadata.version("sglang-router")
    if (installed, router_installed) != (SGLANG_VERSION, SGLANG_ROUTER_VERSION):
        print(
            f"contract: installed sglang {installed} / sglang-router {router_installed}, pinned"
            f" {SGLANG_VERSION} / {SGLANG_ROUTER_VERSION}; run it through nox -s contract"
        )
        return 2
    release, router_release = f"sglang {installed}", f"sglang-router {router_installed}"
    config = load_config(None, os.environ, Path.cwd(), lenient_scores=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the import chain's own deprecation notices
        server, router = server_parser(), router_parser()
    findings: list[Finding] = []
    checked = 0
    for job in config.jobs.values():
        deployment = job.deployment
        for role in deployment.servers:
            argv = server_command("python", "sglang", deployment, role, PORTS[role.role], 8998)
            findings += check_argv(server, argv[3:], f"{job.id} [{role.role}]", release)
            checked += 1
        if deployment.disaggregated:
            argv = router_command(
                "python", job.model.pd_router, url(PORTS["prefill"]), 8998,
                url(PORTS["decode"]), 30003, 29001,
            )  # fmt: skip
            findings += check_argv(router, argv[3:], f"{job.id} [router]", router_release)
    findings += check_routes(ENDPOINTS, served_routes(sglang_package_dir()), "endpoints", release)
    for finding in findings:
        print(f"contract: {finding.line()}")
    errors = sum(f.error for f in findings)
    print(
        f"contract: {checked} server launches of {len(config.jobs)} jobs against {release},"
        f" routers against {router_release}, {len(ENDPOINTS)} endpoints:"
        f" {errors} errors, {len(findings) - errors} warnings"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
