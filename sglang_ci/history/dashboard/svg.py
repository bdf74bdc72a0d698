"""Inline SVG charts, drawn as text.

Inline SVG rather than matplotlib: the pages stay one self-contained file each (no image
files, no fonts to ship, nothing fetched), the core install needs no plotting extra, and
12 jobs x 1,000 runs render in well under a second where a matplotlib figure per job
costs about a tenth of a second each plus its import. Charts are plain polylines,
rectangles and circles; every point carries a <title> (run, commit, score) as a tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

SCORE, THRESHOLD, BAND = "#1f77b4", "#d62728", "#ff7f0e"
STATUS_COLOURS = {
    "passed": "#2ca02c",
    "failed": "#d62728",
    "error": "#9467bd",
    "timeout": "#8c564b",
    "cancelled": "#7f7f7f",
    "skipped": "#c7c7c7",
}


def colour(status: str) -> str:
    return STATUS_COLOURS.get(status, "#7f7f7f")


def sparkline(values: Sequence[float], width: int = 120, height: int = 24) -> str:
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - (v - low) / span * height:.1f}" for i, v in enumerate(values)
    )
    return (
        f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width}'
        f' {height}"><polyline fill="none" stroke="{SCORE}" stroke-width="1.5"'
        f' points="{points}"/></svg>'
    )


def score_chart(
    points: Sequence[tuple[float, str, str]],
    threshold: float | None,
    band: tuple[float, float] | None,
    marks: Sequence[tuple[int, str]] = (),
    width: int = 900,
    height: int = 320,
) -> str:
    """Scores in run order (score, status, tooltip) against the threshold (a red line)
    and the healthy noise band (mean +- 2 std, shaded); ``marks``: (point index, label)
    drawn as a dashed vertical line (the first run of a regression and its commit)."""
    pad = 40
    values = [p[0] for p in points]
    extra = [v for v in (threshold, *(band or ())) if v is not None]
    low, high = min([*values, *extra]) - 0.02, max([*values, *extra]) + 0.02
    span = high - low or 1.0

    def y(value: float) -> float:
        return float(pad / 2 + (high - value) / span * (height - pad))

    step = (width - 2 * pad) / max(len(points) - 1, 1)
    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width}'
        f' {height}" role="img" aria-label="score history">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    if band is not None:
        top, bottom = y(band[1]), y(band[0])
        parts.append(
            f'<rect class="band" x="{pad}" y="{top:.1f}" width="{width - 2 * pad}"'
            f' height="{bottom - top:.1f}" fill="{BAND}" fill-opacity="0.2"/>'
        )
    for tick in (low + 0.02, (low + high) / 2, high - 0.02):
        parts.append(f'<text x="2" y="{y(tick) + 4:.1f}" font-size="11">{tick:.3f}</text>')
    xy = [(pad + i * step, y(p[0])) for i, p in enumerate(points)]
    parts.append(
        f'<polyline class="scores" fill="none" stroke="{SCORE}" stroke-width="1.5"'
        f' points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in xy)}"/>'
    )
    if threshold is not None:
        parts.append(
            f'<line class="threshold" x1="{pad}" x2="{width - pad}" y1="{y(threshold):.1f}"'
            f' y2="{y(threshold):.1f}" stroke="{THRESHOLD}" stroke-width="2"/>'
        )
    for index, label in marks:
        a = xy[index][0]
        parts.append(
            f'<line class="mark" x1="{a:.1f}" x2="{a:.1f}" y1="{pad / 2}" y2="{height - pad / 2}"'
            f' stroke="#444" stroke-dasharray="4 3"/><text x="{a + 4:.1f}" y="{pad / 2 + 10}"'
            f' font-size="11">{escape(label)}</text>'
        )
    for (a, b), (_, status, tip) in zip(xy, points, strict=True):
        parts.append(
            f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{colour(status)}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def status_grid(rows: Sequence[tuple[str, Sequence[tuple[str, str]]]], cell: int = 8) -> str:
    """Job x run: one square per run (status colour, tooltip), newest on the right."""
    label = 260
    width = label + cell * max((len(runs) for _, runs in rows), default=0)
    parts = [f'<svg class="grid" width="{width}" height="{cell * 2 * len(rows)}">']
    for r, (job, runs) in enumerate(rows):
        top = r * cell * 2
        parts.append(f'<text x="0" y="{top + cell}" font-size="11">{escape(job)}</text>')
        for c, (status, tip) in enumerate(runs):
            parts.append(
                f'<rect x="{label + c * cell}" y="{top}" width="{cell - 1}"'
                f' height="{cell}" fill="{colour(status)}"><title>{escape(tip)}'
                "</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def timeline(bars: Sequence[tuple[str, float, float, str]], width: int = 900) -> str:
    """The last run's jobs as bars from their start to their end (seconds from the first
    start): (label, start, end, status)."""
    if not bars:
        return "<p>no timed run</p>"
    end = max(b[2] for b in bars) or 1.0
    label, row = 260, 16
    scale = (width - label) / end
    parts = [f'<svg class="timeline" width="{width}" height="{row * len(bars) + 4}">']
    for i, (name, start, stop, status) in enumerate(bars):
        parts.append(
            f'<text x="0" y="{i * row + 12}" font-size="11">{escape(name)}</text>'
            f'<rect x="{label + start * scale:.1f}" y="{i * row + 2}"'
            f' width="{max((stop - start) * scale, 1):.1f}" height="{row - 4}"'
            f' fill="{colour(status)}"><title>{escape(name)}: {stop - start:.0f} s'
            "</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)
