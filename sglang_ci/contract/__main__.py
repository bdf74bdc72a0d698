"""``python -m sglang_ci.contract``: run inside a contract environment (nox -s contract).

Parses every job's server arguments, per role and spelt for the installed release
([renamed-flags]), with the real parser of the installed SGLang release (one of the
pinned ones), checks that each rename names the spelling that release has, and checks
the endpoints we call against its HTTP server's routes and the router arguments against
the pinned sglang-router, and reads a small checkout of registered test files as the
release's own collector does (contract/registered.py). A job whose min-sglang is newer
than the installed release is not checked against it. One line per finding; exit 1 on
any error (warnings, such as a deprecated flag, do not fail).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

from sglang_ci.config.model import load_config
from sglang_ci.config.releases import FlagRename, release_order
from sglang_ci.config.schema import Job
from sglang_ci.contract import SGLANG_RELEASES, SGLANG_ROUTER_VERSION
from sglang_ci.contract.check import Finding, check_argv, check_renames, check_routes
from sglang_ci.contract.parsers import router_parser, server_parser, sglang_package_dir
from sglang_ci.contract.registered import ACCEPTED, REFUSED, check_registered
from sglang_ci.contract.routes import served_routes
from sglang_ci.plan.commands import ENDPOINTS, router_command, server_command, url

PORTS = {"prefill": 30001, "decode": 30002, "server": 30000}


def claims(job: Job, version: str) -> bool:
    """Whether the job claims to run on this release (its min-sglang is not newer)."""
    return not job.min_sglang or release_order(job.min_sglang) <= release_order(version)


def unclaimed(jobs: Iterable[Job], releases: Iterable[str]) -> list[Finding]:
    """A job newer than every pinned release would never be checked: an error."""
    latest = max(releases, key=release_order)
    return [
        Finding(job.id, f"min-sglang {job.min_sglang} is newer than every release the"
                f" contract checks (latest: sglang {latest}); bump SGLANG_LATEST", True)
        for job in jobs
        if not claims(job, latest)
    ]  # fmt: skip


def unchecked_renames(renames: Iterable[FlagRename], releases: Iterable[str]) -> list[Finding]:
    """A rename from a release newer than every pinned one is never checked: an error."""
    latest = max(releases, key=release_order)
    return [
        Finding(f"renamed-flags.{r.old}", f"since {r.since} is newer than every release the"
                f" contract checks (latest: sglang {latest}), so --{r.new} is never checked;"
                " bump SGLANG_LATEST", True)
        for r in renames
        if release_order(r.since) > release_order(latest)
    ]  # fmt: skip


def check_jobs(
    jobs: Iterable[Job],
    server: argparse.ArgumentParser,
    router: argparse.ArgumentParser,
    release: str,
    router_release: str,
) -> tuple[list[Finding], int]:
    """Each job's server launches (per role) and router, as the launcher builds them, parsed
    by the release's parsers; the findings and the number of server launches checked."""
    findings: list[Finding] = []
    checked = 0
    for job in jobs:
        deployment = job.deployment
        for role in deployment.servers:
            argv = server_command("python", "sglang", deployment, role, PORTS[role.role], 8998)
            given = argv[argv.index("--model-path") :]  # after the program ("sglang serve", ...)
            findings += check_argv(server, given, f"{job.id} [{role.role}]", release)
            checked += 1
        if deployment.disaggregated:
            argv = router_command(
                "python", job.model.pd_router, url(PORTS["prefill"]), 8998,
                url(PORTS["decode"]), 30003, 29001,
            )  # fmt: skip
            findings += check_argv(router, argv[3:], f"{job.id} [router]", router_release)
    return findings, checked


def main() -> int:
    installed = importlib.metadata.version("sglang")
    router_installed = importlib.metadata.version("sglang-router")
    if installed not in SGLANG_RELEASES or router_installed != SGLANG_ROUTER_VERSION:
        print(
            f"contract: installed sglang {installed} / sglang-router {router_installed}, pinned"
            f" {' or '.join(SGLANG_RELEASES)} / {SGLANG_ROUTER_VERSION};"
            " run it through nox -s contract"
        )
        return 2
    release, router_release = f"sglang {installed}", f"sglang-router {router_installed}"
    config = load_config(
        None, os.environ, Path.cwd(), lenient_scores=True, sglang_release=installed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the import chain's own deprecation notices
        server, router = server_parser(), router_parser()
    findings = unclaimed(config.jobs.values(), SGLANG_RELEASES)
    findings += check_renames(server, config.renamed_flags, installed, release)
    findings += unchecked_renames(config.renamed_flags, SGLANG_RELEASES)
    jobs = [job for job in config.jobs.values() if claims(job, installed)]
    launches, checked = check_jobs(jobs, server, router, release, router_release)
    findings += launches
    # Every job calls every endpoint, so an endpoint is checked once per release.
    findings += check_routes(ENDPOINTS, served_routes(sglang_package_dir()), "endpoints", release)
    findings += check_registered(release)
    for finding in findings:
        print(f"contract: {finding.line()}")
    errors = sum(f.error for f in findings)
    newer = len(config.jobs) - len(jobs)
    print(
        f"contract: {checked} server launches of {len(jobs)} jobs against {release}"
        + (f" ({newer} jobs need a newer release)" if newer else "")
        + f", routers against {router_release}, {len(ENDPOINTS)} endpoints,"
        f" {len(ACCEPTED)} registered files read and {len(REFUSED)} refused as its collector does:"
        f" {errors} errors, {len(findings) - errors} warnings"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
