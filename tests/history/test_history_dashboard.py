"""The dashboard in a real browser: headless Chromium loads each job's page from disk,
and the rendered page must hold its chart and its numbers; a screenshot of each is saved
and must show the score line and the threshold line in their colours."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sglang_ci.history.analysis import analyse, groups
from sglang_ci.history.dashboard.site import page_name, write_site
from sglang_ci.history.store import SqliteStore
from tests.history_gen import generate


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is missing in CI: .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def browse(browser: str, page: Path, *args: str) -> str:
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1000,800",
            f"--user-data-dir={page.parent / ('.profile-' + page.stem)}",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.real_process
def test_each_job_page_renders_its_chart_and_numbers(tmp_path: Path) -> None:
    import matplotlib.image

    browser = chromium()
    history = generate(11, jobs=4, runs=30)
    store = SqliteStore(tmp_path / "h.sqlite")
    for row in history.rows:
        store.add(row, history.answers.get(row.uid, []))
    site = tmp_path / "site"
    pages = write_site(store, site, datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc))
    judged = [
        analyse(runs) for runs in groups(store.runs()).values() if any(r.evidence for r in runs)
    ]
    assert pages == len(groups(store.runs())) + 1
    store.close()
    loads = [(site / "index.html", tmp_path / "index.png")]
    loads += [(site / page_name(a), tmp_path / f"{page_name(a)}.png") for a in judged]
    with ThreadPoolExecutor(len(loads)) as browsers:  # one browser per page, at once
        doms = list(
            browsers.map(
                lambda load: browse(browser, load[0], "--dump-dom", f"--screenshot={load[1]}"),
                loads,
            )
        )
    index = doms[0]
    assert index.count('class="sparkline"') == len(judged)
    assert "10 stub-engine runs only (never evidence)" in index
    for analysis, (page, shot), dom in zip(judged, loads[1:], doms[1:], strict=True):
        assert dom.count("<circle") == len(analysis.scores)  # one point per scored run
        assert 'class="scores"' in dom and 'class="threshold"' in dom
        # The regression's first run is marked with its SGLang commit, on its job alone.
        marked = f"regression from SGLang {history.regression_commit}" in dom
        assert marked == (analysis.job == history.regression_job)
        assert f"{analysis.pass_rate:.1%}" in dom and f"{analysis.flakes.rate:.1%}" in dom
        assert page.name in index
        pixels = matplotlib.image.imread(shot)[..., :3]
        for hex_colour in ("#1f77b4", "#d62728"):  # the score line, the threshold
            rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
            close = (abs(pixels - rgb) < 0.02).all(axis=-1)
            assert close.sum() > 50, f"{page.name}: no {hex_colour} pixels in the screenshot"
