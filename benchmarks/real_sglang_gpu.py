"""Rehearse the runner's real path on a GPU machine where SGLang is installed (for the lent
H100: the kit in shared/real-sglang), with the tiny-model stages of benchmarks/tiny/:

    sanity      tinysanity(model='tiny-llama') to its verdict
    ngram       tinyspec(model='tiny-ngram'): NGRAM with topk 10, verified
    int-launch  SIGINT to the runner while the server starts
    int-eval    SIGINT to the runner while its suite runs
    kill9       kill -9 of the runner while its suite runs, then `sglang_ci cleanup`

and print one table: per case the status, phase times, how the server ended, GPU memory
(NVML) before and after, and the processes and ports left behind. Random weights: every
score is meaningless; only the plumbing is judged.

    python benchmarks/real_sglang_gpu.py --model ~/tiny-llama [--cases sanity,kill9]
    python benchmarks/real_sglang_gpu.py --engine stub        # the same cases on the stub
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout without installing

from sglang_ci.config.text import render_table  # noqa: E402
from sglang_ci.data import GSM8K_SAMPLE  # noqa: E402
from sglang_ci.launch import gpu_memory  # noqa: E402
from sglang_ci.launch.ports import listening  # noqa: E402
from sglang_ci.results.result_file import job_dir_name  # noqa: E402

SANITY = "tinysanity(model='tiny-llama')"
NGRAM = "tinyspec(model='tiny-ngram')"
CASES = {  # case: (job, when to act, what to do)
    "sanity": (SANITY, None, None),
    "ngram": (NGRAM, None, None),
    "int-launch": (SANITY, "launch", signal.SIGINT),
    "int-eval": (SANITY, "eval", signal.SIGINT),
    "kill9": (SANITY, "eval", signal.SIGKILL),
}
RELEASE_WAIT_S = 60.0


@dataclass
class Row:
    case: str
    status: str = "?"
    phases: dict[str, float] = field(default_factory=dict)
    teardown: str = ""
    memory: str = ""
    processes_left: int = 0
    ports_left: int = 0
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        phases = " ".join(f"{k} {v:.1f}" for k, v in self.phases.items())
        return (self.case, self.status, phases, self.teardown, self.memory,
                str(self.processes_left), str(self.ports_left), self.note)  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="the tiny model's folder (real engine)")
    parser.add_argument("--engine", choices=("sglang", "stub"), default="sglang")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, in order")
    parser.add_argument("--scratch", type=Path, default=None, help="results (default: a temp dir)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases.split(",")) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if args.engine == "sglang" and (args.model is None or not args.model.is_dir()):
        parser.error("--model must name the tiny model's folder for the real engine")
    return args


def write_config(folder: Path, model: Path) -> Path:
    """benchmarks/tiny/ with the model's path filled in, beside its suites/."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "benchmarks" / "tiny" / "stages.toml").read_text()
    (folder / "stages.toml").write_text(text.replace("TINY_MODEL", str(model)))
    suites = folder / "suites"
    if not suites.exists():
        suites.symlink_to(ROOT / "benchmarks" / "tiny" / "suites")
    return folder / "stages.toml"


def gpu_used() -> int | None:
    usage = gpu_memory.usage(["0"])
    return None if usage is None else sum(usage.values())


def wait_for(result: Path, runner: subprocess.Popen[bytes], phase: str) -> bool:
    """Until the runner is in ``phase``: "launch" (its server started), "eval" (checks
    done, the suite running)."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and runner.poll() is None:
        if phase == "launch" and (result.parent / "server.log").exists():
            time.sleep(3.0)  # well inside a launch of 40 s or more
            return runner.poll() is None
        if phase == "eval" and result.exists():
            with_phases = json.loads(result.read_text() or "{}").get("phases", {})
            if "checks" in with_phases:
                time.sleep(1.0)
                return runner.poll() is None
        time.sleep(0.1)
    return False


def leftovers(marker: str) -> list[str]:
    import psutil

    ours = {os.getpid(), *(p.pid for p in psutil.Process().parents())}  # whoever ran us
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if marker in command and process.pid not in ours:
            found.append(f"{process.pid} {command[:80]}")
    return found


def run_case(name: str, config: Path, results: Path, env: dict[str, str], engine: str,
             marker: str) -> Row:  # fmt: skip
    job, phase, sig = CASES[name]
    row = Row(name)
    folder = results / name
    before = gpu_used()
    runner = subprocess.Popen(
        [sys.executable, "-m", "sglang_ci", "job", job, "--engine", engine,
         "--config", str(config), "--results", str(folder)],
        env=env, cwd=ROOT,
    )  # fmt: skip
    result = folder / job_dir_name(job) / "result.json"
    if phase is not None and sig is not None:
        if wait_for(result, runner, phase):
            runner.send_signal(sig)
        else:
            row.note = f"the runner ended before its {phase}"
    runner.wait(timeout=900)
    if sig is signal.SIGKILL:
        cleanup = subprocess.run([sys.executable, "-m", "sglang_ci", "cleanup"], env=env,
                                 cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
        row.note = cleanup.stdout.strip()[:120]
    deadline = time.monotonic() + RELEASE_WAIT_S
    after = gpu_used()
    while before is not None and after is not None and after > before + 256 \
            and time.monotonic() < deadline:  # fmt: skip
        time.sleep(1.0)
        after = gpu_used()
    record: dict[str, Any] = json.loads(result.read_text()) if result.exists() else {}
    kind = record.get("failure_kind")
    row.status = f"{record.get('status', 'no result')}" + (f" ({kind})" if kind else "")
    row.phases = record.get("phases", {})
    servers = record.get("servers") or [{}]
    report = servers[0].get("teardown") or {}
    if report:
        row.teardown = (f"{report.get('how')}; ended {report.get('terminated')}, killed"
                        f" {report.get('killed')}, {report.get('seconds', 0):.2f} s")  # fmt: skip
    row.memory = f"{before} -> {after} MiB" if before is not None else "no NVML"
    row.processes_left = len(leftovers(marker))
    row.ports_left = len(listening(list(record.get("ports", {}).values())))
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="real-sglang-gpu-"))
    # The stub needs no model: a path unique to this run, so that "left behind" counts
    # only this run's processes.
    model = args.model if args.engine == "sglang" else scratch / "no-model"
    config = write_config(scratch / "config", model)
    env = {**os.environ, "SGLANG_CI_GSM8K_DATA": str(GSM8K_SAMPLE),
           "SGLANG_CI_LEDGER": str(scratch / "ledger"),
           "SGLANG_CI_PORT_LOCKS": str(scratch / "locks")}  # fmt: skip
    marker = str(model)
    rows = []
    for name in args.cases.split(","):
        rows.append(run_case(name, config, scratch / "results", env, args.engine, marker))
        print(f"real_sglang_gpu: {name}: {rows[-1].status}", flush=True)
    header = ("CASE", "STATUS", "PHASES (s)", "TEARDOWN", "GPU MEMORY", "PROCS LEFT",
              "PORTS LEFT", "NOTE")  # fmt: skip
    print(render_table(header, [row.cells() for row in rows]))
    print(f"results: {scratch / 'results'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
