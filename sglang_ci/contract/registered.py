"""Our reader of SGLang's registered test files and our copy of its LPT split, against the
installed release's own ``sglang.test.ci.ci_register`` (shipped in the sglang wheel).

The reader (config/registered.py) and ``sglang_lpt`` (plan/registered_view.py) restate
what ci_register.py does; this check keeps them honest against every pinned release
without a full SGLang checkout: it writes a small checkout of its own (the registration
shapes SGLang's test files use, and the malformed files run_suite's sanity check refuses)
and asks both sides. run_suite.py itself is not in the wheel, so its glob and its suite
lists are not compared here (config/registered.py cites them from the checkout).
"""

from __future__ import annotations

import importlib.util
import random
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.registered import Registration, discover, read_registry
from sglang_ci.contract.check import Finding
from sglang_ci.contract.parsers import sglang_package_dir
from sglang_ci.plan.registered_view import sglang_lpt

MAIN = '\nif __name__ == "__main__":\n    unittest.main()\n'
RUN_SUITE = """
PER_COMMIT_SUITES = {
    HWBackend.CPU: ["base-a-test-cpu"],
    HWBackend.CUDA: ["base-b-test-1-gpu-small", "stress"],
}
NIGHTLY_SUITES = {HWBackend.CUDA: ["nightly-1-gpu", "nightly-test-8-gpu"]}
"""
# Every registration shape SGLang's test files use, each enabled one with its main block.
ACCEPTED: Mapping[str, str] = {
    "core/test_pair.py": "register_cuda_ci(est_time=120, stage='base-b',"
    " runner_config='1-gpu-small')" + MAIN,
    "core/test_legacy.py": 'register_cuda_ci(30, "nightly-1-gpu", True)\n'
    'register_cpu_ci(5, "base-a-test-cpu")' + MAIN,
    "core/test_disabled_only.py": "register_cuda_ci(7.5, 'base-b-test-1-gpu-small', False,"
    " 'flaky')\n",
    "core/test_nested.py": "register_cuda_ci(est_time=9, suite='stress')\n"
    "def f():\n    register_cuda_ci(est_time=1, suite='nope')\n" + MAIN,
    "core/test_nightly_pair.py": 'register_cuda_ci(est_time=600, stage="nightly",'
    ' runner_config="8-gpu", nightly=True)\nimport sys, pytest\n'
    'if __name__ == "__main__":\n    sys.exit(pytest.main([__file__]))\n',
    "amd/test_two_backends.py": 'register_amd_ci(est_time=40, suite="stage-a-test-1-gpu-amd")\n'
    'register_cuda_ci(est_time=41, suite="base-b-test-1-gpu-small", disabled="")' + MAIN,
    "npu/test_npu.py": "register_npu_ci(est_time=3, suite='per-commit-1-npu')" + MAIN,
}
# Files run_suite's sanity check refuses (collect_tests raises): so must our reader.
REFUSED: Mapping[str, str] = {
    "no registration": "x = 1" + MAIN,
    "enabled without a main block": "register_cuda_ci(est_time=5, suite='stress')\n",
    "a main block that calls nothing": "register_cuda_ci(est_time=5, suite='stress')\n"
    'if __name__ == "__main__":\n    pass\n',
    "no est_time": "register_cuda_ci(suite='stress')" + MAIN,
    "est_time a string": "register_cuda_ci(est_time='5', suite='stress')" + MAIN,
    "stage without runner_config": "register_cuda_ci(est_time=5, stage='base-b')" + MAIN,
    "suite and a stage pair": "register_cuda_ci(5, 'stress', stage='a', runner_config='b')" + MAIN,
    "neither suite nor stage": "register_cuda_ci(est_time=5)" + MAIN,
    "an unknown argument": "register_cuda_ci(est_time=5, suite='stress', gpus=1)" + MAIN,
    "an argument twice": "register_cuda_ci(5, 'stress', suite='stress')" + MAIN,
    "nightly not a boolean": "register_cuda_ci(5, 'stress', 1)" + MAIN,
    "disabled not a string": "register_cuda_ci(5, 'stress', False, 3)" + MAIN,
    "too many positional arguments": "register_cuda_ci(5, 'stress', False, None, 3)" + MAIN,
    "**kwargs": "register_cuda_ci(**{'est_time': 5, 'suite': 'stress'})" + MAIN,
}
PARTITION_SAMPLES = 300
# A ci_register module (collect_tests, auto_partition, CIRegistry, HWBackend) of whichever
# release is installed: its types are that release's, unknown to this package.
Collector = Any


def sglang_collector() -> Collector:
    """The installed release's ci_register.py, loaded by its path: it imports only the
    standard library, while importing it as sglang.test.ci would run sglang/__init__.py
    (torch, torchvision)."""
    path = sglang_package_dir() / "test" / "ci" / "ci_register.py"
    spec = importlib.util.spec_from_file_location("sglang_ci_register", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise RuntimeError(f"{path}: the installed sglang has no ci_register.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def write_checkout(root: Path, files: Mapping[str, str]) -> Path:
    """A checkout as run_suite.py sees one: test/run_suite.py and test/registered/."""
    (root / "test" / "registered").mkdir(parents=True)
    (root / "test" / "run_suite.py").write_text(RUN_SUITE, encoding="utf-8")
    for name, text in files.items():
        path = root / "test" / "registered" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


Row = tuple[str, str, float, str, bool, "str | None"]


def _ours(registration: Registration) -> Row:
    r = registration
    return (r.file, r.backend, r.est_time, r.suite, r.nightly, r.disabled)


def _theirs(root: Path, collector: Collector) -> list[Row]:
    files = [str(root / name) for name in discover(root)]
    return sorted(
        (Path(r.filename).relative_to(root).as_posix(), r.backend.name.lower(),
         float(r.est_time), str(r.effective_suite), bool(r.nightly), r.disabled)
        for r in collector.collect_tests(files, sanity_check=True)
    )  # fmt: skip


def compare_reading(root: Path, collector: Collector, release: str) -> list[Finding]:
    """Every registration of the accepted files, field by field, as both sides read it."""
    checkout = write_checkout(root / "accepted", ACCEPTED)
    ours = sorted(_ours(r) for r in read_registry(checkout).registrations)
    theirs = _theirs(checkout, collector)
    return [
        Finding("registered files", f"{release} reads {row}; ours does not", True)
        for row in theirs if row not in ours
    ] + [
        Finding("registered files", f"we read {row}; {release} does not", True)
        for row in ours if row not in theirs
    ]  # fmt: skip


def compare_refusals(root: Path, collector: Collector, release: str) -> list[Finding]:
    """Each malformed file, beside the accepted ones: refused by both sides."""
    findings = []
    for number, (case, text) in enumerate(REFUSED.items()):
        checkout = write_checkout(root / f"refused-{number}", {**ACCEPTED, "bad/test_x.py": text})
        try:
            _theirs(checkout, collector)
            theirs_refuse = False
        except (ValueError, SyntaxError):
            theirs_refuse = True
        try:
            read_registry(checkout)
            ours_refuse = False
        except ConfigError:
            ours_refuse = True
        if not theirs_refuse:
            findings.append(Finding("registered files", f"{release} accepts a file with"
                                    f" {case}; this check expects it refused", True))  # fmt: skip
        elif not ours_refuse:
            findings.append(Finding("registered files", f"a file with {case}: {release}"
                                    " refuses it, our reader accepts it", True))  # fmt: skip
    return findings


def compare_partitions(collector: Collector, release: str, seed: int = 12) -> list[Finding]:
    """sglang_lpt against auto_partition on random suites, ties included (whole seconds)."""
    rng = random.Random(seed)
    for _ in range(PARTITION_SAMPLES):
        durations = {f"test/registered/t{i:02d}.py": float(rng.randint(1, 30))
                     for i in range(rng.randint(1, 25))}  # fmt: skip
        size = rng.randint(1, 8)
        files = [collector.CIRegistry(backend=collector.HWBackend.CUDA, filename=name,
                                      est_time=seconds, suite="s")
                 for name, seconds in reversed(list(durations.items()))]  # fmt: skip
        theirs = [[f.filename for f in collector.auto_partition(files, rank, size)]
                  for rank in range(size)]  # fmt: skip
        ours = sglang_lpt(durations, size)
        if ours != theirs:
            return [Finding("registered files", f"auto_partition of {release} splits"
                            f" {durations} over {size} as {theirs}; sglang_lpt as {ours}",
                            True)]  # fmt: skip
    return []


def check_registered(release: str, collector: Collector | None = None) -> list[Finding]:
    """All three comparisons against the installed release's collector."""
    collector = collector or sglang_collector()
    with tempfile.TemporaryDirectory(prefix="sglang-ci-contract-") as folder:
        root = Path(folder)
        findings = compare_reading(root, collector, release)
        findings += compare_refusals(root, collector, release)
    return findings + compare_partitions(collector, release)
