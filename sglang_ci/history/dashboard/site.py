"""``dashboard --output DIR``: index.html (every job: last status, pass rate, flake rate,
trend; the job x run grid; the last run's timeline) and one page per job (its score
history against the threshold and the noise band, its numbers and findings)."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from html import escape
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.history.analysis import JobAnalysis, analyse, groups
from sglang_ci.history.dashboard.svg import score_chart, sparkline, status_grid, timeline
from sglang_ci.history.rows import RunRow
from sglang_ci.history.store import HistoryStore

GRID_RUNS = 60  # the grid shows each job's latest runs
STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}"
    "td,th{padding:3px 9px;border-bottom:1px solid #ddd;text-align:left}"
    ".passed{color:#2ca02c}.failed,.error,.timeout{color:#d62728}.finding{color:#d62728}"
)


def page_name(analysis: JobAnalysis) -> str:
    key = "|".join((analysis.job, analysis.gpu, analysis.line))
    return f"job-{hashlib.sha1(key.encode()).hexdigest()[:12]}.html"


def write_site(store: HistoryStore, output: Path, now: datetime.datetime) -> int:
    """Write the pages; how many."""
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"dashboard --output {output}: {error.strerror}; name a folder") from None
    rows = store.runs()
    by_group = sorted(groups(rows).items())
    analyses = [(analyse(runs), runs) for _, runs in by_group]
    for analysis, runs in analyses:
        (output / page_name(analysis)).write_text(job_page(analysis, runs), encoding="utf-8")
    (output / "index.html").write_text(index_page(analyses, rows, now), encoding="utf-8")
    return len(analyses) + 1


def _html(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def index_page(
    analyses: Sequence[tuple[JobAnalysis, list[RunRow]]],
    rows: Sequence[RunRow],
    now: datetime.datetime,
) -> str:
    lines = [
        "<tr><th>job</th><th>GPU</th><th>SGLang</th><th>last</th><th>pass rate</th>"
        "<th>flake rate</th><th>runs</th><th>trend</th><th>findings</th></tr>"
    ]
    for a, _ in analyses:
        found = "; ".join(f.kind for f in a.findings())
        if not a.runs:  # stored, never judged
            found = f"{a.stub_runs} stub-engine runs only (never evidence)"
        lines.append(
            f'<tr><td><a href="{page_name(a)}">{escape(a.job)}</a></td><td>{escape(a.gpu)}</td>'
            f'<td>{escape(a.line)}</td><td class="{a.last_status}">{a.last_status}</td>'
            f"<td>{a.rate_text(a.pass_rate)}</td><td>{a.rate_text(a.flakes.rate)}</td>"
            f"<td>{a.runs}</td>"
            f'<td>{sparkline(a.scores[-50:])}</td><td class="finding">{escape(found)}</td></tr>'
        )
    grid = [
        (
            a.job,
            [(r.status, f"{r.started_at} {r.commit[:10]} {r.status}") for r in runs if r.evidence][
                -GRID_RUNS:
            ],
        )
        for a, runs in analyses
    ]
    body = (
        f"<h1>sglang-ci history</h1><p>{len(rows)} runs, {len(analyses)} jobs; written"
        f" {now:%Y-%m-%d %H:%M} UTC</p><table>{''.join(lines)}</table>"
        f"<h2>Runs by job (latest {GRID_RUNS})</h2>{status_grid(grid)}"
        f"<h2>The last run's timeline</h2>{last_timeline(rows)}"
    )
    return _html("sglang-ci history", body)


def last_timeline(rows: Sequence[RunRow]) -> str:
    models = [r for r in rows if r.evidence]
    if not models:
        return "<p>no model run</p>"
    last = models[-1].run_id
    jobs = [r for r in models if r.run_id == last and r.finished_at]
    starts = [datetime.datetime.fromisoformat(r.started_at) for r in jobs]
    first = min(starts)
    bars = [
        (
            r.job,
            (s - first).total_seconds(),
            (datetime.datetime.fromisoformat(str(r.finished_at)) - first).total_seconds(),
            r.status,
        )
        for r, s in zip(jobs, starts, strict=True)
    ]
    return f"<p>run {escape(last)}</p>" + timeline(bars)


def job_page(a: JobAnalysis, runs: Sequence[RunRow]) -> str:
    scored = [r for r in runs if r.evidence and r.score is not None]
    points = [
        (
            float(r.score or 0.0),
            r.status,
            f"{r.started_at} SGLang {r.commit[:10]} {r.status} {r.score:.3f}",
        )
        for r in scored
    ]
    noise = a.noise
    band = (noise.mean - 2 * noise.std, noise.mean + 2 * noise.std) if noise else None
    threshold = scored[-1].threshold if scored else None
    marks = []
    if a.shift is not None:
        index = next(i for i, r in enumerate(scored) if r.uid == a.shift.first_run)
        kind = "regression" if a.shift.regression else "shift"
        marks.append((index, f"{kind} from SGLang {a.shift.commit[:10]}"))
    chart = score_chart(points, threshold, band, marks) if points else "<p>no scored runs</p>"
    numbers = [
        ("runs", str(a.runs)),
        ("stub runs (not evidence)", str(a.stub_runs)),
        ("pass rate", a.rate_text(a.pass_rate, 1)),
        ("flake rate", a.rate_text(a.flakes.rate, 1)),
        ("last status", a.last_status),
    ]
    if threshold is not None:
        numbers.append(("threshold", f"{scored[-1].comparator or ''} {threshold:g}"))
    if noise:
        numbers += [
            ("healthy mean", f"{noise.mean:.3f}"),
            ("healthy std", f"{noise.std:.3f}"),
            ("chance a healthy build fails", f"{noise.chance:.2%}"),
            ("recommended threshold", f"{noise.recommended:.3f}"),
        ]
    table = "".join(f'<tr><th>{k}</th><td class="number">{escape(v)}</td></tr>' for k, v in numbers)
    found = (
        "".join(
            f'<li class="finding">{escape(f.kind)}: {escape(f.text)}</li>' for f in a.findings()
        )
        or "<li>none</li>"
    )
    commits = sorted({r.commit for r in scored})
    body = (
        f'<p><a href="index.html">all jobs</a></p><h1>{escape(a.job)}</h1>'
        f"<p>{escape(a.gpu or 'unknown GPU')}, SGLang {escape(a.line)}; {len(commits)}"
        f" SGLang commits (hover a point for its run and commit)</p>{chart}"
        f"<table>{table}</table><h2>Findings</h2><ul>{found}</ul>"
    )
    return _html(a.job, body)
