"""The commits between the ends, from git itself (never guessed)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sglang_ci.config.errors import UsageError


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    merge: bool  # a merge on the first-parent line: it brings in a side branch

    @property
    def short(self) -> str:
        return self.sha[:10]


def git(checkout: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise UsageError(f"git {' '.join(args)} in {checkout}: {last}")
    return done.stdout


def resolve(checkout: Path, ref: str, option: str) -> str:
    try:
        return git(checkout, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except UsageError:
        raise UsageError(f"{option} {ref}: not a commit of {checkout}; give a branch, tag or"
                         " commit it has (git fetch first?)") from None  # fmt: skip


def commit_range(checkout: Path, good: str, bad: str, first_parent: bool) -> list[Commit]:
    """good, then every commit up to and including bad, oldest first. With
    ``first_parent`` the mainline only (a merge stands for its branch, as PR merges do)."""
    if not (checkout / ".git").exists() and not checkout.name.endswith(".git"):
        git(checkout, "rev-parse", "--git-dir")  # a one-line error when it is no git dir
    done = subprocess.run(["git", "-C", str(checkout), "merge-base", "--is-ancestor", good, bad],
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode != 0 or good == bad:
        raise UsageError(f"--good {good[:10]} is not an ancestor of --bad {bad[:10]}: the good"
                         " end must come before the bad one")  # fmt: skip
    order = ["--first-parent"] if first_parent else ["--topo-order"]
    lines = git(checkout, "log", "--reverse", *order, "--format=%H %P%x00%s", f"{good}..{bad}")
    found = [Commit(good, git(checkout, "log", "-1", "--format=%s", good).strip(), False)]
    for line in lines.splitlines():
        head, _, subject = line.partition("\x00")
        sha, *parents = head.split()
        found.append(Commit(sha, subject, len(parents) > 1))
    return found


def add_worktree(checkout: Path, folder: Path, sha: str) -> Path:
    """A detached worktree of ``sha`` (the checkout itself is never touched)."""
    if folder.exists():
        remove_worktree(checkout, folder)
    git(checkout, "worktree", "add", "--detach", "--force", str(folder), sha)
    return folder


def remove_worktree(checkout: Path, folder: Path) -> None:
    """Remove a worktree of ours (it lies in the bisect's own folder), and git's note of it."""
    subprocess.run(["git", "-C", str(checkout), "worktree", "remove", "--force", str(folder)],
                   capture_output=True, check=False)  # fmt: skip
    if folder.exists():  # git would not (a damaged worktree): the folder is ours to remove
        shutil.rmtree(folder)
    subprocess.run(["git", "-C", str(checkout), "worktree", "prune"], capture_output=True,
                   check=False)  # fmt: skip
