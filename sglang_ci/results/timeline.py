"""A packed run's timeline: one lane per GPU, each job a bar from its start to its end
with its status. Written as timeline.json (the record the tests check for overlaps), as
a Mermaid Gantt chart in markdown (GitHub renders it, in a step summary too), and as a
PNG where matplotlib is installed (it is not a dependency: the chart is a convenience)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sglang_ci.results.summary import STEP_SUMMARY_ENV

# Mermaid task tags by status: passed done (grey), failures crit (red), the rest active.
_TAGS = {"passed": "done", "skipped": "done"}


@dataclass(frozen=True)
class Bar:
    job: str
    gpus: tuple[str, ...]
    start: float  # seconds from the run's start
    end: float
    status: str


def _task_name(text: str) -> str:
    """Mermaid ends a task's name at ':' and reads '#' and ';' as syntax."""
    return re.sub(r"[:#;]", " ", text)


def mermaid(bars: Sequence[Bar], title: str, lanes: Sequence[str]) -> str:
    lines = ["```mermaid", "gantt", f"    title {_task_name(title)}", "    dateFormat X",
             "    axisFormat %M:%S"]  # fmt: skip
    for lane in lanes:
        mine = [bar for bar in bars if lane in bar.gpus]
        if not mine:
            continue
        lines.append(f"    section GPU {_task_name(lane)}")
        for bar in sorted(mine, key=lambda b: b.start):
            tag = _TAGS.get(bar.status, "crit" if bar.status in ("failed", "error") else "active")
            start, end = int(bar.start), max(int(bar.end), int(bar.start) + 1)
            lines.append(f"    {_task_name(bar.job)} ({bar.status}) :{tag}, {start}, {end}")
    lines.append("```")
    return "\n".join(lines)


def png(bars: Sequence[Bar], title: str, lanes: Sequence[str], path: Path) -> bool:
    """The chart as a PNG; False where matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on a runner
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(10, 1.5 + 0.4 * len(lanes)))
    colours = {"passed": "tab:green", "failed": "tab:red", "error": "tab:red"}
    for row, lane in enumerate(lanes):
        for bar in (b for b in bars if lane in b.gpus):
            axes.barh(row, bar.end - bar.start, left=bar.start,
                      color=colours.get(bar.status, "tab:orange"), edgecolor="black")  # fmt: skip
            axes.text(bar.start, row, f" {bar.job}", va="center", fontsize=7)
    axes.set_yticks(range(len(lanes)), [f"GPU {lane}" for lane in lanes])
    axes.set_xlabel("seconds from the stage's start")
    axes.set_title(title)
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)
    return True


def write_timeline(
    folder: Path, bars: Sequence[Bar], title: str, lanes: Sequence[str], notes: Sequence[str],
    env: Mapping[str, str],
) -> Path:  # fmt: skip
    """timeline.json, timeline.md (and timeline.png); the markdown also goes to the step
    summary. Returns the markdown's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "timeline.json").write_text(json.dumps(
        {"title": title, "lanes": list(lanes), "notes": list(notes),
         "bars": [asdict(bar) for bar in bars]}, indent=2))  # fmt: skip
    markdown = "\n".join([f"### {title}: timeline", "", mermaid(bars, title, lanes), "",
                          *(f"- {note}" for note in notes)]) + "\n"  # fmt: skip
    path = folder / "timeline.md"
    path.write_text(markdown)
    png(bars, title, lanes, folder / "timeline.png")
    summary = env.get(STEP_SUMMARY_ENV)
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write("\n" + markdown)
    return path
