"""Fault injection, from one environment variable so it reaches the stub through nox,
the runner and the launcher unchanged.

    SGLANG_CI_STUB_FAULTS="slow_start=3,crash_after=5,error_rate=0.2,orphans=2"

slow_start=S     healthy only after S seconds (503 until then)
exit_on_start=C  exit with code C while starting, after logging a few lines
never_healthy    stay "starting" forever
crash_after=N    die abruptly (exit 1) on the (N+1)-th generation request
error_rate=R     answer HTTP 500 to a fraction R of generation requests
slow_answer=S    delay every generation answer by S seconds
slow_after=N     slow_answer only once more than N generation requests came in (the first N,
                 e.g. the launcher's smoke request, are answered on time: a test reaches the
                 eval at once and finds it held up there)
gibberish        answer in non-ASCII token salad (a broken weight load)
looping          answer one short n-gram over and over (corrupted KV cache / attention)
ignore_sigterm   ignore SIGTERM (this process and its orphans): only SIGKILL works
orphans=N        fork N helpers that re-parent away at once (as SGLang's schedulers do
                 when their parent dies), keeping the listening socket open
escapees=N       like orphans, but they also leave the process group and session
                 (setsid): no group or session scan finds them
fail_first=N     answer HTTP 500 to the first N generation requests (a transient glitch)
html_answers     answer generation requests 200 with an HTML page (a proxy's error page)
jit_build        while starting, run short compiler processes one after another, two at a
                 time, each reaped by the stub when it ends (as SGLang's scheduler runs
                 ninja and nvcc for its JIT ops): members of the server's tree that vanish
                 under teardown's feet; each ignores SIGTERM and ends on its own in 0.3 s
log_env          log the whole environment at start-up (as a crash dump or a debug log
                 does): secrets given to the server must not reach an uploaded file
"""

from __future__ import annotations

from dataclasses import dataclass, fields

FAULTS_ENV = "SGLANG_CI_STUB_FAULTS"


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class Faults:
    slow_start: float = 0.0
    exit_on_start: int | None = None
    never_healthy: bool = False
    crash_after: int | None = None
    error_rate: float = 0.0
    slow_answer: float = 0.0
    slow_after: int = 0
    gibberish: bool = False
    looping: bool = False
    ignore_sigterm: bool = False
    orphans: int = 0
    escapees: int = 0
    fail_first: int = 0
    html_answers: bool = False
    jit_build: bool = False
    log_env: bool = False

    def active(self) -> list[str]:
        default = Faults()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)]


_FLAGS = {"never_healthy", "ignore_sigterm", "html_answers", "gibberish", "looping",
          "jit_build", "log_env"}  # fmt: skip
_INTS = {"exit_on_start", "crash_after", "orphans", "escapees", "fail_first", "slow_after"}
_FLOATS = {"slow_start", "error_rate", "slow_answer"}


def parse_faults(text: str) -> Faults:
    values: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, raw = item.partition("=")
        name = name.strip()
        if name in _FLAGS and not raw:
            values[name] = True
        elif name in _INTS and raw:
            values[name] = int(raw)
        elif name in _FLOATS and raw:
            values[name] = float(raw)
        else:
            known = ", ".join(sorted(_FLAGS | _INTS | _FLOATS))
            raise FaultSpecError(f"{FAULTS_ENV}: cannot read {item!r} (faults: {known})")
    faults = Faults(**values)  # type: ignore[arg-type]
    if not 0.0 <= faults.error_rate <= 1.0:
        raise FaultSpecError(f"{FAULTS_ENV}: error_rate must be within 0..1")
    return faults
