"""Does a change need the GPU stages? SGLang's _pr-test-check-changes.yml @ 6ed5780c4f
runs its stages only when a path of the package, its tests or its CI changed, and never
for Markdown (``python/sglang/...!(*.md)``, ``test/**/!(*.md)``): a change that touches
only documentation runs no GPU stage. In this project's terms: documentation is
Markdown and reStructuredText anywhere, and the docs/ and seeds/ folders; any other
path (the runner, stages.toml, suites, the workflows) needs the stages.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

DOCUMENTATION = ("*.md", "*.rst", "docs/*", "seeds/*", "LICENSE", "LICENSE.*")


def is_documentation(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(name, p)
               for p in DOCUMENTATION)  # fmt: skip


def needs_gpu_stages(paths: Iterable[str]) -> bool:
    """True unless every changed path is documentation (an empty diff runs nothing)."""
    changed = [path.strip() for path in paths if path.strip()]
    return any(not is_documentation(path) for path in changed)
