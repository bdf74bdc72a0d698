"""A synthetic git repository of a small stand-in "sglang" package, for the bisect tests
and the README example: real git commits, each a real pip-installable package.

Commit i (1-based after the root, which is commit 0) sets the package version 0.0.i and
what the stub and the flaky file read from it: SGLANG_CI_STUB_ACCURACY (the stub reads
it with SGLANG_CI_STUB_ACCURACY=installed-sglang) and FILE_FAIL_RATE (the registered
file's chance to fail). A commit in ``broken`` has a pyproject.toml pip cannot read."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

FLAKY_FILE = "test/registered/test_flaky.py"

_PYPROJECT = """[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "sglang"
version = "0.0.{number}"

[tool.setuptools]
packages = ["sglang"]
"""

_INIT = """\"\"\"A stand-in for SGLang, written by sglang-ci's bisect tests: not SGLang.\"\"\"
SGLANG_CI_STUB_ACCURACY = {accuracy}
FILE_FAIL_RATE = {fail_rate}
"""

# Fails with the installed package's FILE_FAIL_RATE; its draws come from a counter file
# (BISECT_TEST_COUNTER), so a test's sequence of passes and failures is reproducible.
_FLAKY = """import os
import random
import unittest

import sglang


class TestFlaky(unittest.TestCase):
    def test_flaky(self):
        path = os.environ["BISECT_TEST_COUNTER"]
        count = int(open(path).read()) if os.path.exists(path) else 0
        with open(path, "w") as handle:
            handle.write(str(count + 1))
        draw = random.Random(count).random()
        self.assertGreaterEqual(draw, sglang.FILE_FAIL_RATE, "flaky failure")


if __name__ == "__main__":
    unittest.main()
"""


JOB = "quick(model='stand-in')"
CONFIG = """
[models.stand-in]
model-path = "org/stand-in"

[suites.quick]
axes = ["model"]
score = "gsm8k"
eval = { num-examples = 30, num-shots = 5, threads = 8 }

[stages.bisect]
gpus = 1
runner = "r"
timeout = 60

[[stages.bisect.jobs]]
suite = "quick"
model = "stand-in"
thresholds = { gsm8k = 0.6 }
est-time = 10
"""
SUITE = """from sglang_ci.run.suite_plugin import SuiteContext


def test_gsm8k(ctx: SuiteContext) -> None:
    ctx.check("gsm8k", ctx.run_eval("gsm8k").score)
"""


@dataclass(frozen=True)
class Repo:
    path: Path
    shas: list[str]  # commit i's sha at index i (0: the root, the good end)


def git(path: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00",
           "PATH": "/usr/bin:/bin", "HOME": str(path)}  # fmt: skip
    done = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                          env=env, check=True)  # fmt: skip
    return done.stdout.strip()


def write_repo(path: Path, commits: int, first_bad: int | None, *, good: float = 0.9,
               bad: float = 0.5, broken: Collection[int] = (), fail_rate: float = 0.3,
               bad_fail_rate: float = 1.0) -> Repo:  # fmt: skip
    """Commits 0..``commits``; from ``first_bad`` on, accuracy ``bad`` and the file's
    failure rate ``bad_fail_rate`` (None: no commit regresses)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    shas = []
    for number in range(commits + 1):
        regressed = first_bad is not None and number >= first_bad
        package = path / "python" / "sglang"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(_INIT.format(
            accuracy=bad if regressed else good,
            fail_rate=bad_fail_rate if regressed else fail_rate))  # fmt: skip
        pyproject = _PYPROJECT.format(number=number)
        if number in broken:
            pyproject = pyproject.replace("[project]", "[project")  # pip cannot parse it
        (path / "python" / "pyproject.toml").write_text(pyproject)
        flaky = path / FLAKY_FILE
        flaky.parent.mkdir(parents=True, exist_ok=True)
        flaky.write_text(_FLAKY)
        git(path, "add", "-A")
        subject = "regress" if number == first_bad else ("break the build" if number in broken
                                                           else f"change {number}")  # fmt: skip
        git(path, "commit", "-q", "--allow-empty", "-m", subject)
        shas.append(git(path, "rev-parse", "HEAD"))
    return Repo(path, shas)


def project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stages.toml").write_text(CONFIG)
    suites = folder / "suites"
    suites.mkdir()
    (suites / "test_quick.py").write_text(SUITE)
    (suites / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    return folder / "stages.toml"


def main(folder: Path) -> None:
    """The README's worked example: ``python3 tests/bisect_repo.py stand-in`` writes
    stand-in/repo (16 commits: commit 11 drops the accuracy from 0.97 to 0.3, commit 8
    does not install) and stand-in/stages.toml with the job quick(model='stand-in')."""
    repo = write_repo(folder / "repo", 16, 11, good=0.97, bad=0.3, broken=(8,))
    project(folder)
    print(f"{repo.path}: 17 commits, good end {repo.shas[0][:10]}, bad end {repo.shas[-1][:10]}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
