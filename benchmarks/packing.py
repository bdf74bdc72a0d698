"""How well packing fills a multi-GPU runner (goal: makespan within 1.15 of the lower
bound on every stage with at least 2 x G GPU-jobs of work), and whether a packed stub run
ends when the plan says (goal: within 10%).

1. Synthetic stages (log-normal job times, 1/2/4/8-GPU jobs) on G = 8: makespan of the
   schedule / max(sum(gpus x t) / G, longest job), and the speed-up over one at a time.
2. SGLang's registered suites (--checkout: a SGLang checkout): each per-commit CUDA
   suite's files (est_time, the suite's runner GPUs) packed on one 8-GPU runner, against
   one at a time, 8 / gpus runners, and SGLang's sharding.
3. A stub run of a packed stage (--stub-run): jobs that sleep their est_time scaled
   down (the stub's slow_start), measured makespan against the predicted one.

    python benchmarks/packing.py [--checkout PATH] [--stub-run]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sglang_ci.plan.packing import PackJob, lower_bound, makespan, simulate
from sglang_ci.plan.partition import shard_count, split

G = 8


def synthetic(rng: random.Random, count: int) -> list[PackJob]:
    sizes = rng.choice([[1], [1, 1, 2], [1, 2, 4], [1, 1, 2, 4, 8], [2, 4]])
    return [PackJob(f"j{i}", rng.choice(sizes), rng.lognormvariate(5.5, 0.8))
            for i in range(count)]  # fmt: skip


def ratio(jobs: list[PackJob], gpus: int) -> tuple[float, float, float]:
    """(makespan / the issue's lower bound, makespan / a tighter one, one-at-a-time /
    makespan)."""
    span = makespan(simulate(jobs, gpus))
    return (span / lower_bound(jobs, gpus), span / tighter_bound(jobs, gpus),
            sum(j.seconds for j in jobs) / span)  # fmt: skip


def tighter_bound(jobs: list[PackJob], gpus: int) -> float:
    """Also a lower bound: jobs on more than half the GPUs never overlap each other, and a
    job on every GPU overlaps nothing, so those run end to end."""
    wide = sum(job.seconds for job in jobs if job.gpus * 2 > gpus)
    rest = [job for job in jobs if job.gpus < gpus]
    full = sum(job.seconds for job in jobs if job.gpus == gpus)
    return max(lower_bound(jobs, gpus), wide, full + (lower_bound(rest, gpus) if rest else 0.0))


def synthetic_figures() -> None:
    rng = random.Random(24)
    ratios, tight, speedups, small = [], [], [], []
    for _ in range(300):
        jobs = synthetic(rng, rng.randint(4, 60))
        quality, tighter, speedup = ratio(jobs, G)
        if sum(job.gpus for job in jobs) >= 2 * G:
            ratios.append(quality)
            tight.append(tighter)
            speedups.append(speedup)
        else:
            small.append(quality)
    print(f"synthetic, G={G}: {len(ratios)} stages with >= 2 x G GPU-jobs of work:"
          f" makespan / bound median {statistics.median(ratios):.3f},"
          f" max {max(ratios):.3f}, over 1.15: {sum(r > 1.15 for r in ratios)};"
          f" speed-up over one at a time median {statistics.median(speedups):.2f}x")  # fmt: skip
    print(f"  against the tighter bound (wide jobs end to end): median"
          f" {statistics.median(tight):.3f}, max {max(tight):.3f}, over 1.15:"
          f" {sum(r > 1.15 for r in tight)}")  # fmt: skip
    print(f"  ({len(small)} smaller stages, not held to the goal: median"
          f" {statistics.median(small):.3f}, max {max(small):.3f})")  # fmt: skip


def registered_figures(checkout: Path) -> None:
    from sglang_ci.config.registered import read_registry
    from sglang_ci.config.registered_stage import runner_gpus

    suites = read_registry(checkout).suites(nightly=False)
    print(f"registered per-commit CUDA suites of {checkout.name}, packed on one {G}-GPU runner:")
    for suite, files in suites.items():
        gpus = runner_gpus(suite)
        if gpus is None or gpus > G or len(files) < 2:
            continue
        jobs = [PackJob(file, gpus, seconds) for file, seconds in files.items()]
        span = makespan(simulate(jobs, G))
        bound = lower_bound(jobs, G)
        held = "goal" if len(jobs) * gpus >= 2 * G else "small"
        runners = G // gpus
        spread = (max(p.seconds for p in split(list(files), files, runners))
                  if len(files) >= runners else span)  # fmt: skip
        try:
            shards = shard_count(suite, sum(files.values()), len(files), 60).size
            sharded = max(p.seconds for p in split(list(files), files, shards))
            sglang = f"SGLang {shards} shard(s) x {gpus} GPU: {sharded:6.0f} s"
        except Exception as error:
            sglang = f"SGLang sharding: {error}"
        print(f"  {suite:<28} {len(files):3} files x {gpus} GPU: packed {span:6.0f} s,"
              f" /bound {span / bound:.3f} ({held}); one at a time {sum(files.values()):6.0f} s;"
              f" {runners} runners x {gpus} GPU {spread:6.0f} s; {sglang}")  # fmt: skip


STUB_JOBS = {"a": (16, 2), "b": (14, 1), "c": (12, 1), "d": (10, 2), "e": (9, 1), "f": (8, 1),
             "g": (6, 1), "h": (5, 2)}  # name: (sleep seconds, GPUs)  # fmt: skip


def stub_stage(folder: Path, overhead: float) -> Path:
    text = ""
    for name, (sleep, gpus) in STUB_JOBS.items():
        tp = f", tp-size = {gpus}" if gpus > 1 else ""
        text += (f'[models.{name}]\ndescription = "{name}"\nmodel-path = "m/{name}"\n'
                 f"args = {{ enable-metrics = true{tp} }}\n"
                 f'env = {{ SGLANG_CI_STUB_FAULTS = "slow_start={sleep}" }}\n')  # fmt: skip
    text += ('[suites.nap]\ndescription = "n"\naxes = ["model"]\nscore = "hellaswag"\n'
             '[stages.packed]\ndescription = "p"\ngpus = 4\nrunner = "r"\ntimeout = 30\n'
             "pack = true\ncontinue-on-error = true\n")  # fmt: skip
    for name, (sleep, _) in STUB_JOBS.items():
        text += (f'[[stages.packed.jobs]]\nsuite = "nap"\nmodel = "{name}"\n'
                 "thresholds = { hellaswag = 0.01 }\n"
                 f"est-time = {sleep + overhead:.2f}\n")  # fmt: skip
    (folder / "stages.toml").write_text(text)
    suites = folder / "suites"
    suites.mkdir(exist_ok=True)
    (suites / "test_nap.py").write_text('"""Nothing: the job is its launch."""\n\n\n'
                                        "def test_nothing() -> None:\n    pass\n")  # fmt: skip
    return folder / "stages.toml"


def run_stub(folder: Path, *extra: str) -> dict[str, object]:
    out = folder / f"out-{time.monotonic_ns()}"
    subprocess.run([sys.executable, "-m", "sglang_ci", "run", "--stage", "packed", "--config",
                    str(folder / "stages.toml"), "--engine", "stub", "--gpus", "4",
                    "--results", str(out), *extra], check=False, capture_output=True)  # fmt: skip
    return dict(json.loads((out / "packed-packed" / "timeline.json").read_text()))


def stub_figures() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # One job alone, sleeping 0 s: the launch, checks and teardown a job adds to its sleep.
        stub_stage(folder, 0.0)
        config = folder / "stages.toml"
        only = config.read_text().split("[[stages.packed.jobs]]")
        first_only = "[[stages.packed.jobs]]".join(only[:2])
        config.write_text(first_only.replace("slow_start=16", "slow_start=0"))
        bars = run_stub(folder)["bars"]
        overhead = float(bars[0]["end"] - bars[0]["start"])  # type: ignore[index]
        stub_stage(folder, overhead)
        jobs = [PackJob(n, g, s + overhead) for n, (s, g) in STUB_JOBS.items()]
        predicted = makespan(simulate(jobs, 4))
        bars = run_stub(folder)["bars"]
        measured = max(float(bar["end"]) for bar in bars)  # type: ignore[attr-defined]
        print(f"stub run, 8 jobs on 4 stand-in GPUs (per-job overhead {overhead:.1f} s):"
              f" predicted makespan {predicted:.1f} s, measured {measured:.1f} s,"
              f" ratio {measured / predicted:.3f}; one at a time would be"
              f" {sum(j.seconds for j in jobs):.0f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, help="a SGLang checkout (test/registered/)")
    parser.add_argument("--stub-run", action="store_true", help="also run a packed stub stage")
    args = parser.parse_args()
    started = time.monotonic()
    synthetic_figures()
    if args.checkout:
        registered_figures(args.checkout)
    if args.stub_run:
        stub_figures()
    print(f"({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
