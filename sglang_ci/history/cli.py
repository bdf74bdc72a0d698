"""``history ingest|check|show|merge`` and ``dashboard``: parsing and one function per
command, each returning its exit code."""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
from collections.abc import Mapping
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import config_path
from sglang_ci.history.analysis import Settings, analyse, analyse_all, findings, groups
from sglang_ci.history.flaky import question_flips
from sglang_ci.history.store import HISTORY_ENV, open_store, store_path


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="FILE",
        help=f"the history store (default: ${HISTORY_ENV}, else results/history.sqlite)",
    )


def add_history_parsers(commands: Any) -> None:
    history = commands.add_parser(
        "history",
        help="remember every result; find thresholds inside the noise, flaky jobs and regressions",
        description="the run history store and its analyses",
    )
    subs = history.add_subparsers(dest="history_command", required=True, metavar="ACTION")
    ingest = subs.add_parser(
        "ingest",
        help="read every result.json (and its per-question records) below the folders; idempotent",
    )
    ingest.add_argument("folders", nargs="+", metavar="DIR")
    check = subs.add_parser("check", help="every finding; exit 1 when there is any")
    check.add_argument("--json", action="store_true")
    check.add_argument(
        "--noise-limit",
        type=float,
        default=Settings.noise_limit,
        help="flag a threshold a healthy build fails more often (default 0.01)",
    )
    check.add_argument(
        "--flake-rate",
        type=float,
        default=Settings.flake_rate,
        help="flaky above this share of commits that both passed and failed,"
        " and suggest quarantine (default 0.05)",
    )
    check.add_argument(
        "--passes",
        type=int,
        default=20,
        help="suggest lifting a quarantine after this many passes in a row (default 20)",
    )
    check.add_argument(
        "--write",
        action="store_true",
        help="record the healthy runs of each"
        " threshold inside the noise in baselines.toml (never stub runs)",
    )
    check.add_argument(
        "--config", metavar="PATH", help="stages.toml (for --write and quarantine.toml)"
    )
    show = subs.add_parser("show", help="one job's runs and analysis")
    show.add_argument("job", metavar="JOB")
    show.add_argument("--json", action="store_true")
    merge = subs.add_parser("merge", help="add every run of other stores to --db")
    merge.add_argument("stores", nargs="+", metavar="FILE")
    for sub in (ingest, check, show, merge):
        add_db_option(sub)
    dashboard = commands.add_parser(
        "dashboard", help="a static site of the history (works from disk, no network)"
    )
    dashboard.add_argument("--output", metavar="DIR", required=True)
    add_db_option(dashboard)


def history_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    path = store_path(args.db, env)
    action = args.history_command
    if action == "ingest":
        from sglang_ci.history.ingest import ingest

        missing = [folder for folder in args.folders if not Path(folder).is_dir()]
        if missing:
            raise UsageError(f"history ingest: {missing[0]}: no such folder of results")
        with closing(open_store(path)) as store:
            report = ingest(store, [Path(folder) for folder in args.folders])
        for line in report.skipped:
            print(line)
        print(report.summary(str(path)))
        return 0
    if action == "merge":
        missing = [name for name in args.stores if not Path(name).is_file()]
        if missing:
            raise UsageError(f"history merge: {missing[0]}: no such history store")
        with closing(open_store(path)) as store:
            added = sum(store.merge(Path(name)) for name in args.stores)
        print(f"history: {added} runs merged into {path}")
        return 0
    if action == "check":
        return check_command(args, path, env)
    return show_command(args, path)


def check_command(args: argparse.Namespace, path: Path, env: Mapping[str, str]) -> int:
    if not 0 < args.noise_limit < 1 or not 0 < args.flake_rate < 1 or args.passes < 1:
        raise UsageError(
            "history check: --noise-limit and --flake-rate lie between 0 and 1,"
            " --passes is 1 or more"
        )
    settings = Settings(noise_limit=args.noise_limit, flake_rate=args.flake_rate)
    with closing(open_store(path, create=False)) as store:
        analyses = analyse_all(store.runs(), settings)
    found = findings(analyses)
    quarantine = _quarantine(args.config, env)
    suggestions = [
        f"quarantine {a.job}: flake rate {a.flakes.rate:.0%}"
        for a in analyses
        if a.flaky_unexplained and a.job not in quarantine
    ]
    suggestions += [
        f"lift the quarantine of {a.job}: {a.streak} passes in a row"
        for a in analyses
        if a.job in quarantine and a.streak >= args.passes
    ]
    if args.write:
        from sglang_ci.history.calibrate import write_baselines

        for line in write_baselines(analyses, args.config, env):
            print(line, file=sys.stderr if args.json else sys.stdout)  # --json: JSON alone
    if args.json:
        print(
            json.dumps(
                {"findings": [asdict(f) for f in found], "suggestions": suggestions},
                indent=2,
                default=str,
            )
        )
    else:
        print("\n".join(f"{f.kind}: {f.text}" for f in found) or "history: no findings")
        for line in suggestions:
            print(f"suggest: {line}")
        print(f"({len(analyses)} jobs, {sum(a.runs for a in analyses)} model runs analysed)")
    return 1 if found else 0


def _quarantine(config: str | None, env: Mapping[str, str]) -> set[str]:
    from sglang_ci.history.quarantine import load_quarantine, quarantine_path

    source = config_path(config, env, Path.cwd())  # the stages.toml every command reads
    return set(load_quarantine(quarantine_path(source)))


def show_command(args: argparse.Namespace, path: Path) -> int:
    with closing(open_store(path, create=False)) as store:
        rows = store.runs(args.job)
        # Every run is read only to suggest a name, where the job has none.
        known = [] if rows else sorted({row.job for row in store.runs()})
        flips = question_flips(rows, store.answers)
    if not rows:
        from sglang_ci.config.toml_reader import suggestion

        raise UsageError(
            f"history show: no runs of {args.job!r} in {path}.{suggestion(args.job, known)}"
        )
    analyses = [analyse(runs) for runs in groups(rows).values()]
    if args.json:
        print(
            json.dumps(
                {
                    "analyses": [a.to_json() for a in analyses],
                    "flips": asdict(flips),
                    "runs": [asdict(r) for r in rows],
                },
                indent=2,
                default=str,
            )
        )
        return 0
    for a in analyses:
        print(
            f"{a.job} on {a.gpu or 'unknown GPU'}, SGLang {a.line}: {a.runs} runs"
            f" ({a.stub_runs} stub, not evidence), pass rate {a.rate_text(a.pass_rate)},"
            f" flake rate {a.rate_text(a.flakes.rate)}, last {a.last_status}"
        )
        if len(a.scores) >= 2:
            tenths = statistics.quantiles(a.scores, n=10)
            print(
                f"  scores: min {min(a.scores):.3f}, p10 {tenths[0]:.3f}, median"
                f" {statistics.median(a.scores):.3f}, p90 {tenths[-1]:.3f},"
                f" max {max(a.scores):.3f}"
            )
        if a.noise:
            print(
                f"  threshold {a.noise.comparator} {a.noise.threshold:g}: healthy mean"
                f" {a.noise.mean:.3f}, std {a.noise.std:.3f}; a healthy build fails it with"
                f" chance {a.noise.chance:.2%}"
            )
        for finding in a.findings():
            print(f"  {finding.kind}: {finding.text}")
    print(
        f"  per-question flips within a commit: {flips.flipped} of {flips.questions}"
        f" questions over {flips.commits} commits"
    )
    for row in rows[-10:]:
        score = "" if row.score is None else f" {row.score:.3f}"
        print(
            f"  {row.started_at} {row.commit[:10]} {row.status}{score}"
            + (" (stub)" if row.rehearsal else "")
        )
    return 0


def dashboard_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from sglang_ci.history.dashboard.site import write_site

    with closing(open_store(store_path(args.db, env), create=False)) as store:
        pages = write_site(store, Path(args.output), datetime.datetime.now(datetime.timezone.utc))
    print(f"dashboard: {pages} pages in {args.output} (open {Path(args.output) / 'index.html'})")
    return 0


def stored_p90s(db: str | None, env: Mapping[str, str]) -> dict[str, float]:
    """`matrix --from-history`: each job's p90 duration over its latest stored runs."""
    from sglang_ci.history.analysis import p90_durations

    with closing(open_store(store_path(db, env), create=False)) as store:
        return p90_durations(store.runs())
