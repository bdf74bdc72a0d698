"""Run history timings (medians): ingest of 10,000 result.json files, one job's analysis
over 5,000 runs, and the dashboard for 12 jobs x 1,000 runs.

Goals on the 2-core CI machine: ingest >= 500 results/s, one job's analysis <= 100 ms,
the whole dashboard <= 15 s. Run: python benchmarks/history.py
"""

from __future__ import annotations

import datetime
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sglang_ci.history.analysis import analyse
from sglang_ci.history.dashboard.site import write_site
from sglang_ci.history.ingest import ingest
from sglang_ci.history.store import SqliteStore
from tests.history_gen import generate, write_results


def median_of(repeats: int, step: Callable[[int], float]) -> float:
    return statistics.median(step(n) for n in range(repeats))


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        files = generate(1, jobs=50, runs=200, records=False)  # 10,000 runs
        write_results(files, root / "results")

        def ingest_once(n: int) -> float:
            store = SqliteStore(root / f"ingest-{n}.sqlite")
            started = time.perf_counter()
            added = ingest(store, [root / "results"]).added
            seconds = time.perf_counter() - started
            store.close()
            assert added == len(files.rows)
            return seconds

        seconds = median_of(3, ingest_once)
        print(
            f"ingest: {len(files.rows)} result.json in {seconds:.2f} s (median of 3):"
            f" {len(files.rows) / seconds:.0f} results/s (goal >= 500)"
        )

        # The same with each run's gsm8k.jsonl (200 per-question records each).
        with_records = generate(4, jobs=10, runs=200)
        write_results(with_records, root / "records")

        def ingest_records(n: int) -> float:
            store = SqliteStore(root / f"records-{n}.sqlite")
            started = time.perf_counter()
            ingest(store, [root / "records"])
            seconds = time.perf_counter() - started
            store.close()
            return seconds

        seconds = median_of(3, ingest_records)
        print(
            f"ingest with records: {len(with_records.rows)} result.json + gsm8k.jsonl in"
            f" {seconds:.2f} s (median of 3): {len(with_records.rows) / seconds:.0f} results/s"
        )

        long = generate(2, jobs=4, runs=5000, records=False)
        job = [row for row in long.rows if row.job == long.regression_job]

        def analyse_once(_: int) -> float:
            started = time.perf_counter()
            analyse(job)
            return time.perf_counter() - started

        print(
            f"analysis: one job over {len(job)} runs in {median_of(5, analyse_once) * 1000:.1f}"
            " ms (median of 5; goal <= 100 ms)"
        )

        wide = generate(3, jobs=12, runs=1000, records=False)
        store = SqliteStore(root / "wide.sqlite")
        for row in wide.rows:
            store.add(row, [])
        now = datetime.datetime.now(datetime.timezone.utc)

        def dashboard_once(n: int) -> float:
            started = time.perf_counter()
            write_site(store, root / f"site-{n}", now)
            return time.perf_counter() - started

        print(
            f"dashboard: 12 jobs x 1000 runs in {median_of(3, dashboard_once):.2f} s"
            " (median of 3; goal <= 15 s)"
        )


if __name__ == "__main__":
    main()
