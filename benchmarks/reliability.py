"""The fault matrix, as a hostile CI day would run it: every stub fault (and the
combinations that matter), kill -9 of the runner followed by `cleanup`, N concurrent
copies of one job, all with planted secrets in the environment. Per case: the verdict,
seconds, what was left (processes, listening ports, port locks, ledger files) and how
many planted secret values turned up in the run's files or output. Target: every
leftover and every hit 0.

    python benchmarks/reliability.py [--copies 4]
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
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout without installing

from sglang_ci.config.text import render_table  # noqa: E402
from sglang_ci.launch.ports import listening  # noqa: E402

JOB = "spec(model='gemma4-e4b-frozen-kv', topk=1)"
FOLDER = "spec-model-gemma4-e4b-frozen-kv-topk-1"
SECRETS = {"HF_TOKEN": "hf_PLANTEDreliability", "GITHUB_TOKEN": "ghp_PLANTEDreliability"}
MARK = "SGLANG_CI_RELIABILITY_MARK"
FAULTS: list[tuple[str, str, list[str]]] = [  # case, faults, extra runner options
    ("healthy", "", []),
    ("exit_on_start", "exit_on_start=3", []),
    ("never_healthy", "never_healthy", ["--launch-timeout", "2"]),
    ("slow_start", "slow_start=30", ["--launch-timeout", "1.5"]),
    ("crash_after", "crash_after=10", []),
    ("crash+orphans", "crash_after=10,orphans=2", []),
    ("error_rate", "error_rate=1", []),
    ("slow_answer", "slow_answer=5", ["--request-timeout", "1"]),
    ("timeout", "slow_answer=30", ["--timeout", "3"]),
    ("ignore_sigterm", "ignore_sigterm", []),
    ("orphans", "orphans=3", []),
    ("orphans+ignore", "orphans=2,ignore_sigterm", []),
    ("escapees", "escapees=2", []),
    # The server dumps its environment (planted tokens), on a pass and on a failed launch.
    ("log_env", "log_env", []),
    ("log_env+exit_on_start", "log_env,exit_on_start=3", []),
]


def marked(mark: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(MARK) == mark:
                found.append(process)
        except psutil.Error:
            continue
    return found


def env_for(scratch: Path, mark: str, faults: str) -> dict[str, str]:
    return {**os.environ, **SECRETS, MARK: mark, "SGLANG_CI_STUB_FAULTS": faults,
            "SGLANG_CI_PORT_LOCKS": str(scratch / "locks"),
            "SGLANG_CI_LEDGER": str(scratch / "ledger"), "PYTHONPATH": str(ROOT)}  # fmt: skip


def command(results: Path, extra: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "sglang_ci", "job", JOB, "--engine", "stub", "--results",
            str(results), "--config", str(ROOT / "stages.toml"), *extra]  # fmt: skip


def measure(case: str, scratch: Path, results: list[Path], output: str, mark: str,
            seconds: float, verdict: str) -> tuple[str, ...]:  # fmt: skip
    ports: list[int] = []
    for folder in results:
        path = folder / FOLDER / "result.json"
        if path.exists():
            ports += list(json.loads(path.read_text()).get("ports", {}).values())
    files = [p for folder in results if folder.exists() for p in folder.rglob("*") if p.is_file()]
    texts = [output, *(p.read_text(errors="replace") for p in files)]
    hits = sum(text.count(value) for text in texts for value in SECRETS.values())
    locks = len(list((scratch / "locks").glob("*.lock")))
    ledgers = len(list((scratch / "ledger").glob("*.json")))
    return (case, verdict, f"{seconds:.1f}", str(len(marked(mark))), str(len(listening(ports))),
            str(locks), str(ledgers), str(hits))  # fmt: skip


def verdict_of(folder: Path, code: int) -> str:
    path = folder / FOLDER / "result.json"
    if not path.exists():
        return f"exit {code}, no result"
    record: dict[str, Any] = json.loads(path.read_text())
    kind = record.get("failure_kind")
    return f"{record['status']}" + (f" ({kind})" if kind else "") + f", exit {code}"


def fault_case(scratch: Path, case: str, faults: str, extra: list[str]) -> tuple[str, ...]:
    mark, folder = uuid.uuid4().hex, scratch / case
    started = time.monotonic()
    run = subprocess.run(command(folder, extra), env=env_for(scratch, mark, faults), cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    return measure(case, scratch, [folder], run.stdout + run.stderr, mark,
                   time.monotonic() - started, verdict_of(folder, run.returncode))  # fmt: skip


def _phase_reached(result: Path, phase: str) -> bool:
    try:
        return phase in json.loads(result.read_text() or "{}").get("phases", {})
    except (OSError, ValueError):
        return False  # written while we read it


def _ledger_appeared(scratch: Path) -> bool:
    return any(name.endswith(".json") for name in os.listdir(scratch / "ledger"))


def kill9_case(scratch: Path, case: str, faults: str, phase: str | None = "launch",
               delay_ms: float = 0.0) -> tuple[str, ...]:  # fmt: skip
    """kill -9 of the runner once ``phase`` is in its result.json, or (``phase`` None)
    ``delay_ms`` after its ledger file appears (busy-polled), then `cleanup`."""
    mark, folder = uuid.uuid4().hex, scratch / case.replace(" ", "_")
    env = env_for(scratch, mark, faults)
    (scratch / "ledger").mkdir(mode=0o700, exist_ok=True)
    started = time.monotonic()
    runner = subprocess.Popen(command(folder, []), env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    result = folder / FOLDER / "result.json"
    while runner.poll() is None:
        if phase is None and _ledger_appeared(scratch):
            time.sleep(delay_ms / 1000)
            break
        if phase is not None and _phase_reached(result, phase):
            time.sleep(0.5)  # the adoption watch scans every 0.2 s
            break
        time.sleep(0 if phase is None else 0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    cleanup = subprocess.run([sys.executable, "-m", "sglang_ci", "cleanup"], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=False)  # fmt: skip
    return measure(case, scratch, [folder], cleanup.stdout, mark, time.monotonic() - started,
                   verdict_of(folder, cleanup.returncode))  # fmt: skip


def kill9_cases(scratch: Path) -> list[tuple[str, ...]]:
    rows = [kill9_case(scratch, "kill -9 + cleanup", "slow_answer=30,orphans=2,log_env")]
    for phase in ("launch", "checks"):
        rows.append(kill9_case(scratch, f"escapees, kill -9 after {phase}",
                               "slow_answer=30,escapees=2", phase))  # fmt: skip
    for delay_ms in (0, 1, 2, 5, 20):
        rows.append(kill9_case(scratch, f"kill -9 {delay_ms} ms after ledger", "slow_start=1",
                               None, delay_ms))  # fmt: skip
    return rows


def trust_cases(scratch: Path) -> list[tuple[str, ...]]:
    """A dead run's ledger file naming strangers (a reused pid leading another session,
    another user's process when run as root), files another user planted, malformed
    files; then `cleanup` and a job run. The verdict counts strangers ended (must be 0)
    and files set aside; a traceback anywhere shows as one."""
    mark = uuid.uuid4().hex
    env = env_for(scratch, mark, "")
    ledger = scratch / "ledger"
    ledger.mkdir(mode=0o700, exist_ok=True)
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    strangers = [subprocess.Popen(sleeper, start_new_session=True)]
    if os.getuid() == 0:
        strangers.append(subprocess.Popen(["sleep", "300"], user=65534, start_new_session=True))
    dead = {"pid": os.getpid(), "create_time": 1.0}
    entries: list[dict[str, Any]] = [
        {"role": "server", "job": "j", "ports": [], "pid": s.pid, "sid": s.pid,
         "create_time": psutil.Process(s.pid).create_time()}
        for s in strangers
    ]  # fmt: skip
    entries[0]["create_time"] -= 30  # the pid reused: the recorded server started earlier
    planted = {"reused.json": json.dumps({"runner": dead, "jobs": [], "results": [],
                                          "entries": entries[:1]})}  # fmt: skip
    if os.getuid() == 0:
        planted["other-user.json"] = json.dumps({"runner": dead, "jobs": [], "results": [],
                                                 "entries": entries[1:]})  # fmt: skip
        exact = dict(entries[0], create_time=psutil.Process(strangers[0].pid).create_time())
        planted["planted.json"] = json.dumps({"runner": dead, "jobs": [], "results": [],
                                              "entries": [exact]})  # fmt: skip
    malformed = [
        "",
        "{",
        "[]",
        '{"entries": []}',
        '{"runner": {"pid": "1"}, "entries": []}',
        '{"runner": {"pid": 9}, "entries": [{"pid": "x"}]}',
        '{"runner": {"pid": 9}, "entries": 1}',
        '{"runner": [], "entries": []}',
        '{"runner": {"pid": 9}, "jobs": [1], "results": [], "entries": []}',
        '{"runner": {"pid": 9}, "jobs": [], "results": [], "entries": [{"role": 1}]}',
    ]
    planted.update({f"bad-{n}.json": text for n, text in enumerate(malformed)})
    for name, text in planted.items():
        (ledger / name).write_text(text)
        if name in ("other-user.json", "planted.json"):
            os.chown(ledger / name, 65534, 65534)
    started = time.monotonic()
    cleanup = subprocess.run([sys.executable, "-m", "sglang_ci", "cleanup"], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=False)  # fmt: skip
    ended = sum(s.poll() is not None for s in strangers)
    aside = len(list((ledger / "set-aside").glob("*")))
    rows = [measure("cleanup trust", scratch, [], cleanup.stdout + cleanup.stderr, mark,
                    time.monotonic() - started,
                    f"strangers ended {ended}/{len(strangers)}, {aside} file(s) set aside,"
                    f" exit {cleanup.returncode}"
                    + (", traceback" if "Traceback" in cleanup.stderr else ""))]  # fmt: skip
    for stranger in strangers:
        stranger.kill()
        stranger.wait()
    (ledger / "late.json").write_text('{"runner": 5}')  # tampered with before a run
    case = fault_case(scratch, "ledger tampering + job", "", [])
    aside_now = len(list((ledger / "set-aside").glob("*"))) - aside
    rows.append((case[0], f"{case[1]}, {aside_now} set aside", *case[2:]))
    return rows


def signal_case(scratch: Path, case: str, faults: str, extra: list[str], sig: signal.Signals,
                ready: Callable[[Path, str], bool], env_extra: dict[str, str] | None = None,
                ) -> tuple[str, ...]:  # fmt: skip
    """``sig`` to the runner once ``ready(folder, mark)`` holds (a state of the run, not a
    time)."""
    mark, folder = uuid.uuid4().hex, scratch / case
    env = {**env_for(scratch, mark, faults), **(env_extra or {})}
    started = time.monotonic()
    runner = subprocess.Popen(command(folder, extra), env=env, cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    while runner.poll() is None and not ready(folder, mark):
        time.sleep(0.02)
    runner.send_signal(sig)
    output = runner.communicate(timeout=300)[0]
    return measure(case, scratch, [folder], output, mark, time.monotonic() - started,
                   verdict_of(folder, runner.returncode))  # fmt: skip


def compiling(_folder: Path, mark: str) -> bool:
    """The stub's jit_build compilers are running under its server."""
    for process in marked(mark):
        try:
            if "sglang_ci.stub" in process.cmdline() and process.children():
                return True
        except psutil.Error:
            continue
    return False


def retry_waiting(folder: Path, _mark: str) -> bool:
    return (folder / f"{FOLDER}-attempt-1" / "result.json").exists()


def concurrent_case(scratch: Path, copies: int) -> tuple[str, ...]:
    mark, folder = uuid.uuid4().hex, scratch / "concurrent"
    env = env_for(scratch, mark, "slow_start=0.5")
    started = time.monotonic()
    runners = [subprocess.Popen(command(folder, []), env=env, cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for _ in range(copies)]  # fmt: skip
    outputs = [runner.communicate(timeout=300)[0] for runner in runners]
    codes = sorted(runner.returncode for runner in runners)
    verdict = f"exit codes {codes} ({codes.count(0)} ran, {codes.count(2)} refused)"
    return measure(f"{copies} concurrent copies", scratch, [folder], "".join(outputs), mark,
                   time.monotonic() - started, verdict)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    copies = parser.parse_args().copies
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(temporary)
        for case, faults, extra in FAULTS:
            rows.append(fault_case(scratch, case, faults, extra))
            print(f"reliability: {case}: {rows[-1][1]}", file=sys.stderr, flush=True)
        rows += kill9_cases(scratch)
        rows += trust_cases(scratch)
        rows.append(signal_case(scratch, "SIGINT in JIT build", "slow_start=60,jit_build,"
                                "ignore_sigterm", [], signal.SIGINT, compiling))  # fmt: skip
        rows.append(signal_case(scratch, "SIGTERM in retry wait", "", ["--enable-retry",
                                "--retry-wait", "600"], signal.SIGTERM, retry_waiting,
                                {"SGLANG_CI_STUB_ACCURACY": "0"}))  # fmt: skip
        rows.append(concurrent_case(scratch, copies))
    header = ("CASE", "VERDICT", "SECONDS", "PROCESSES LEFT", "PORTS LEFT", "LOCKS LEFT",
              "LEDGERS LEFT", "SECRET HITS")  # fmt: skip
    print(render_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
