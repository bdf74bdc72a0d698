"""How SGLang's CI runs one registered file: the command, its working directory, its time
limit and the environment it inherits, so that ``run-file`` reproduces it exactly.

Read at bytedance-iaas/sglang 6ed5780c4f:
- ``.github/workflows/_pr-test-stage.yml``, step "Run test": ``cd test`` then
  ``python3 run_suite.py --hw cuda --suite S ...``; job-level ``env:`` sets
  SGLANG_IS_IN_CI=true, SGLANG_ENABLE_ASYNC_ASSERT ('false' on base-a stages, else
  'true'), SGLANG_CUDA_COREDUMP=1, SGLANG_JIT_DEEPGEMM_FAST_WARMUP=true.
- ``test/run_suite.py``: ``--timeout-per-file`` defaults to 1200 s; the files are found
  by ``glob`` under the absolute ``test/registered`` folder.
- ``python/sglang/test/ci/ci_utils.py`` ``run_unittest_files``: each file runs as
  ``["python3", os.path.join(os.getcwd(), filename), "-f"]`` (filename is absolute, so
  the path is the file's own) in run_suite's working directory, with its environment.
- ``python/sglang/srt/debug_utils/cuda_coredump.py``: imported by ci_utils; with
  SGLANG_CUDA_COREDUMP=1 it puts four CUDA_* coredump variables (unless already set) into
  run_suite's own environment, which every file inherits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# run_suite.py's --timeout-per-file default: every per-job limit's default (the stage's
# timeout-per-job, run-file's --timeout) is this one.
TIMEOUT_PER_FILE_S = 1200.0
# run_suite is started from <checkout>/test, and every file inherits that directory.
WORKDIR = "test"

_COREDUMP_FLAGS = (
    "skip_nonrelocated_elf_images,skip_global_memory,"
    "skip_shared_memory,skip_local_memory,skip_constbank_memory"
)


def file_command(path: Path) -> list[str]:
    """The argv run_suite gives a registered file (``-f``: unittest's fail-fast)."""
    return ["python3", str(path), "-f"]


def workdir(checkout: Path) -> Path:
    return checkout / WORKDIR


def _coredump_dir(env: Mapping[str, str]) -> str:
    """Where cuda_coredump.get_dump_dir puts dumps: an explicit folder, else RUNNER_TEMP's,
    else /tmp's; one folder per GitHub run attempt."""
    base = env.get("SGLANG_CUDA_COREDUMP_DIR") or (
        os.path.join(env["RUNNER_TEMP"], "sglang_cuda_coredumps")
        if env.get("RUNNER_TEMP")
        else "/tmp/sglang_cuda_coredumps"
    )
    run_id = env.get("GITHUB_RUN_ID")
    if run_id:
        return os.path.join(base, f"{run_id}-{env.get('GITHUB_RUN_ATTEMPT', '1')}")
    return base


def ci_env(suite: str | None, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with what SGLang's stage workflow and run_suite add to it; a variable the
    caller set wins (as the workflow's are only defaults on a self-hosted runner's shell)."""
    added = {
        "SGLANG_IS_IN_CI": "true",
        # The fwd-occupancy sanity kit of base-a measures GPU work; async asserts skew it.
        "SGLANG_ENABLE_ASYNC_ASSERT": "false" if (suite or "").startswith("base-a") else "true",
        "SGLANG_CUDA_COREDUMP": "1",
        "SGLANG_JIT_DEEPGEMM_FAST_WARMUP": "true",
    }
    out = {**added, **env}
    if out.get("SGLANG_CUDA_COREDUMP", "").lower() in ("1", "true"):
        dump_dir = _coredump_dir(out)
        coredump = {
            "CUDA_ENABLE_COREDUMP_ON_EXCEPTION": "1",
            "CUDA_COREDUMP_SHOW_PROGRESS": "1",
            "CUDA_COREDUMP_GENERATION_FLAGS": _COREDUMP_FLAGS,
            "CUDA_COREDUMP_FILE": f"{dump_dir}/cuda_coredump_%h.%p.%t",
        }
        out = {**coredump, **out}
    return out
