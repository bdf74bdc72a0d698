"""Rehearse the runner's real path on a GPU machine where SGLang is installed (for the lent
H100: the kit in shared/real-sglang), with the tiny-model stages of benchmarks/tiny/:

    sanity      tinysanity(model='tiny-llama') to its verdict
    ngram       tinyspec(model='tiny-ngram'): NGRAM with topk 10, verified
    int-launch  SIGINT to the runner while the server starts (3 s after its log appears)
    int-imports SIGINT 0.5 s after the server's log appears (SGLang still importing)
    int-load    SIGINT when the scheduler logs "Load weight begin" (tokenizer, weights)
    int-jit     SIGINT 5 s after HTTP is up, while the first forward JIT-compiles its ops
                (run it before any case that gets the server ready: the JIT cache is cold)
    int-ready   SIGINT as soon as the runner records the launch phase (just after ready)
    int-eval    SIGINT to the runner while its suite runs
    kill9       kill -9 of the runner while its suite runs, then `sglang_ci cleanup`
    packed      the tiny stage run packed (pack = true) on the machine's GPUs: with one
                GPU a single slot, so the slot path (worker, CUDA_VISIBLE_DEVICES, pool
                release check, timeline) launches, checks and tears down real SGLang

and print one table: per case the status and exit code, how long the runner took to exit
after the signal, the compiler processes (nvcc, ninja, ...) running at that instant, the
servers result.json recorded, phase times, how the server ended, GPU memory (NVML) before
and after, and the processes, ports and run-ledger files left behind. CUDA graph capture
is not a case: the kit's tiny model runs with CUDA graphs off (benchmarks/tiny). Random
weights: every score is meaningless; only the plumbing is judged.

    python benchmarks/real_sglang_gpu.py --model ~/tiny-llama [--cases sanity,kill9]
    python benchmarks/real_sglang_gpu.py --engine stub        # the same cases on the stub
"""

from __future__ import annotations

import argparse
import contextlib
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
    "int-imports": (SANITY, "imports", signal.SIGINT),
    "int-load": (SANITY, "load", signal.SIGINT),
    "int-jit": (SANITY, "jit", signal.SIGINT),
    "int-ready": (SANITY, "ready", signal.SIGINT),
    "int-eval": (SANITY, "eval", signal.SIGINT),
    "kill9": (SANITY, "eval", signal.SIGKILL),
    "packed": ("", None, None),  # the whole tiny stage, packed (run_packed_case)
}
RELEASE_WAIT_S = 60.0
# Log lines of SGLang 0.5.12 that mark a phase of its start (scheduler, then HTTP server).
LOAD_MARKER = "Load weight begin"
HTTP_MARKER = ("Application startup complete", "Uvicorn running on")
COMPILERS = ("nvcc", "ninja", "cicc", "ptxas", "cc1plus", "c++", "gcc", "cudafe++", "fatbinary")


@dataclass
class Row:
    case: str
    status: str = "?"
    exit_code: int | None = None
    exit_after: float | None = None  # seconds from the signal to the runner's exit
    compilers: int = 0  # compiler processes under the runner when the signal was sent
    servers: int = 0  # servers result.json recorded
    ledger_left: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    teardown: str = ""
    memory: str = ""
    processes_left: int = 0
    ports_left: int = 0
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        phases = " ".join(f"{k} {v:.1f}" for k, v in self.phases.items())
        after = "" if self.exit_after is None else f"{self.exit_after:.2f}"
        return (self.case, self.status, str(self.exit_code), after, str(self.compilers),
                str(self.servers), phases, self.teardown, self.memory,
                str(self.processes_left), str(self.ports_left), str(self.ledger_left),
                self.note)  # fmt: skip


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


def packed_config(config: Path) -> Path:
    """The tiny stage with ``pack = true``, in a folder of its own beside ``config``."""
    folder = config.parent.parent / "config-packed"
    folder.mkdir(exist_ok=True)
    text = config.read_text().replace("[stages.tiny]\n", "[stages.tiny]\npack = true\n", 1)
    (folder / "stages.toml").write_text(text)
    suites = folder / "suites"
    if not suites.exists():
        suites.symlink_to(ROOT / "benchmarks" / "tiny" / "suites")
    return folder / "stages.toml"


def overlapping(bars: list[dict[str, Any]]) -> int:
    """Pairs of the timeline's bars that share a GPU at the same instant (must be 0)."""
    return sum(1 for i, a in enumerate(bars) for b in bars[i + 1 :]
               if set(a["gpus"]) & set(b["gpus"]) and a["start"] < b["end"]
               and b["start"] < a["end"])  # fmt: skip


def run_packed_case(config: Path, results: Path, env: dict[str, str], engine: str,
                    marker: str) -> Row:  # fmt: skip
    """`run --stage tiny` on the packed copy of the config; one row for the whole stage."""
    row = Row("packed")
    folder = results / "packed"
    before = gpu_used()
    stand_in = ["--gpus", "1"] if engine == "stub" else []  # the stub's one stand-in GPU
    runner = subprocess.run(
        [sys.executable, "-m", "sglang_ci", "run", "--stage", "tiny", "--engine", engine,
         "--config", str(packed_config(config)), "--results", str(folder), *stand_in],
        env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    row.exit_code = runner.returncode
    after = release_wait(before)
    records = [json.loads(path.read_text()) for path in sorted(folder.glob("*/result.json"))]
    statuses = sorted(str(record.get("status")) for record in records)
    row.status = ", ".join(statuses) or "no result"
    row.servers = sum(len(record.get("servers") or []) for record in records)
    row.ledger_left = len(list(Path(env["SGLANG_CI_LEDGER"]).glob("*.json")))
    ports = [port for record in records for port in (record.get("ports") or {}).values()]
    row.ports_left = len(listening(ports))
    row.processes_left = len(leftovers(marker))
    row.memory = f"{before} -> {after} MiB" if before is not None else "no NVML"
    timeline = folder / "packed-tiny" / "timeline.json"
    if timeline.exists():
        bars = json.loads(timeline.read_text())["bars"]
        spans = "; ".join(f"{bar['job']} GPU {','.join(bar['gpus'])} {bar['start']:.0f}-"
                          f"{bar['end']:.0f} s" for bar in bars)  # fmt: skip
        row.note = f"{len(bars)} bars, {overlapping(bars)} overlapping: {spans}"[:160]
    else:
        row.note = "no timeline.json"
    return row


def release_wait(before: int | None) -> int | None:
    """GPU memory in use once it is back near ``before`` (or RELEASE_WAIT_S passed)."""
    deadline = time.monotonic() + RELEASE_WAIT_S
    after = gpu_used()
    while before is not None and after is not None and after > before + 256 \
            and time.monotonic() < deadline:  # fmt: skip
        time.sleep(1.0)
        after = gpu_used()
    return after


def gpu_used() -> int | None:
    usage = gpu_memory.usage(["0"])
    return None if usage is None else sum(usage.values())


def log_has(log: Path, markers: str | tuple[str, ...]) -> bool:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return False
    return any(marker in text for marker in ((markers,) if isinstance(markers, str) else markers))


def wait_for(result: Path, runner: subprocess.Popen[bytes], phase: str) -> bool:
    """Until the runner is in ``phase``: "launch" (its server started), "imports",
    "load", "jit" (points of SGLang's start, by its log), "ready" (launch phase recorded),
    "eval" (checks done, the suite running)."""
    deadline = time.monotonic() + 900
    log = result.parent / "server.log"
    after: dict[str, tuple[str | tuple[str, ...] | None, float]] = {
        "launch": (None, 3.0), "imports": (None, 0.5), "load": (LOAD_MARKER, 0.0),
        "jit": (HTTP_MARKER, 5.0),
    }  # fmt: skip
    while time.monotonic() < deadline and runner.poll() is None:
        if phase in after and log.exists():
            marker, delay = after[phase]
            if marker is None or log_has(log, marker):
                time.sleep(delay)
                return runner.poll() is None
        if phase == "ready" and result.exists():
            with contextlib.suppress(ValueError):
                if "launch" in json.loads(result.read_text() or "{}").get("phases", {}):
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


def compilers_under(pid: int) -> int:
    import psutil

    try:
        tree = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return 0
    count = 0
    for process in tree:
        with contextlib.suppress(psutil.Error):
            count += process.name() in COMPILERS
    return count


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
            row.compilers = compilers_under(runner.pid)
            runner.send_signal(sig)
            signalled = time.monotonic()
            with contextlib.suppress(subprocess.TimeoutExpired):
                runner.wait(timeout=900)
            row.exit_after = time.monotonic() - signalled
        else:
            row.note = f"the runner ended before its {phase}"
    runner.wait(timeout=900)
    row.exit_code = runner.returncode
    ledger_folder = Path(env["SGLANG_CI_LEDGER"])
    if sig is signal.SIGKILL:
        cleanup = subprocess.run([sys.executable, "-m", "sglang_ci", "cleanup"], env=env,
                                 cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
        row.note = cleanup.stdout.strip()[:120]
    after = release_wait(before)
    record: dict[str, Any] = json.loads(result.read_text()) if result.exists() else {}
    kind = record.get("failure_kind")
    row.status = f"{record.get('status', 'no result')}" + (f" ({kind})" if kind else "")
    row.servers = len(record.get("servers") or [])
    row.ledger_left = len(list(ledger_folder.glob("*.json")))
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
        if name == "packed":
            rows.append(run_packed_case(config, scratch / "results", env, args.engine, marker))
        else:
            rows.append(run_case(name, config, scratch / "results", env, args.engine, marker))
        print(f"real_sglang_gpu: {name}: {' | '.join(rows[-1].cells())}", flush=True)
    header = ("CASE", "STATUS", "EXIT", "EXIT AFTER (s)", "COMPILERS", "SERVERS",
              "PHASES (s)", "TEARDOWN", "GPU MEMORY", "PROCS LEFT", "PORTS LEFT",
              "LEDGER LEFT", "NOTE")  # fmt: skip
    print(render_table(header, [row.cells() for row in rows]))
    print(f"results: {scratch / 'results'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
