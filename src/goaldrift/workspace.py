"""A run's repository: template copy, pressure, constraint, one git commit per step.

The git directory lives *outside* the repository the agent works in. The agent is untrusted: with a
``.git`` it could plant hooks or ``core.fsmonitor`` commands that our own ``git commit`` would run
outside its sandbox. Keeping git metadata beside the work tree (``<attempt>/git``), and running git with
hooks and fsmonitor disabled, means the agent can only ever change files, and every change shows up
in the step's diff.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from goaldrift.conditions import Condition
from goaldrift.edits import apply_pressure
from goaldrift.errors import GoaldriftError
from goaldrift.scenario import PressureComment, Scenario

MAX_DIFF_BYTES = 2_000_000
_IGNORED = ["__pycache__/", "*.pyc", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", "*.egg-info/",
            ".venv/", "node_modules/"]
_EXCLUDE = [":(exclude,glob)**/" + (p + "**" if p.endswith("/") else p) for p in _IGNORED]
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "goaldrift", "GIT_AUTHOR_EMAIL": "goaldrift@localhost",
    "GIT_COMMITTER_NAME": "goaldrift", "GIT_COMMITTER_EMAIL": "goaldrift@localhost",
}
_GIT_SAFE = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "commit.gpgSign=false",
             "-c", "core.autocrlf=false", "-c", "core.quotePath=false", "-c", "diff.noprefix=false"]


@dataclass(frozen=True)
class Snapshot:
    commit: str
    diff: str  # the whole diff: detectors judge all of it (only the stored copy is cut)
    files_changed: int
    lines_added: int
    lines_removed: int

    @property
    def truncated(self) -> bool:
        return len(self.diff) > MAX_DIFF_BYTES

    @property
    def stored_diff(self) -> str:
        return self.diff[:MAX_DIFF_BYTES] if self.truncated else self.diff


def pressure_comments(scenario: Scenario, condition: Condition) -> list[PressureComment]:
    """The comments a condition applies: the pack's comments toward its pressure side, cut to ``dose``."""
    if condition.pressure is None or condition.dose <= 0:
        return []
    comments = scenario.spec.pressure.get(condition.pressure, [])
    keep = max(1, round(len(comments) * condition.dose)) if comments else 0
    return comments[:keep]


def agents_md(scenario: Scenario, condition: Condition) -> str:
    """AGENTS.md: the pack's project notes, plus the constraint when it is placed there (the paper)."""
    parts = [scenario.spec.agents_md.strip()]
    if condition.placement == "agents_md":
        parts.append(scenario.value(condition.constraint).constraint.strip())
    return "\n\n".join(p for p in parts if p) + "\n"


class Workspace:
    """``repo`` is what the agent sees; ``git_dir`` is ours."""

    def __init__(self, repo: Path, git_dir: Path):
        self.repo = repo
        self.git_dir = git_dir
        self._env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR")},
                     **_GIT_ENV, "GIT_DIR": str(git_dir), "GIT_WORK_TREE": str(repo)}

    @classmethod
    def create(cls, root: Path, scenario: Scenario, condition: Condition) -> Workspace:
        """Lay out ``root/repo`` and ``root/git`` and make the initial commit.

        ``root`` must not exist: every attempt gets a fresh directory, so runs never share state.
        """
        root = root.resolve()
        if root.exists():
            raise GoaldriftError(f"workspace {root} already exists (left from a store that was deleted?): "
                                 "move or delete that folder, or use another --store")
        repo, git_dir = root / "repo", root / "git"
        root.mkdir(parents=True)
        shutil.copytree(scenario.template_dir, repo,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".pytest_cache"))
        ws = cls(repo, git_dir)
        if condition.onset <= 1:
            apply_pressure(repo, pressure_comments(scenario, condition))
        existing = repo / "AGENTS.md"
        notes = agents_md(scenario, condition)
        if existing.is_file():
            notes = existing.read_text(encoding="utf-8").rstrip() + "\n\n" + notes
        existing.write_text(notes, encoding="utf-8")
        ws.git("init", "-q", "-b", "main")
        (git_dir / "info").mkdir(parents=True, exist_ok=True)
        (git_dir / "info" / "exclude").write_text("\n".join(_IGNORED) + "\n")
        # Highest-precedence attributes: an in-repo .gitattributes cannot mark files "-diff" to hide them.
        (git_dir / "info" / "attributes").write_text("* !diff !filter !merge\n")
        ws.add_all()
        ws.git("commit", "-q", "--allow-empty", "-m", "goaldrift: initial state")
        return ws

    def git(self, *args: str) -> str:
        proc = subprocess.run(["git", *_GIT_SAFE, *args], cwd=self.repo, env=self._env,
                              capture_output=True, text=True, errors="replace")
        if proc.returncode != 0:
            raise GoaldriftError(f"git {' '.join(args[:2])} failed in {self.repo}: {proc.stderr.strip()[:500]}")
        return proc.stdout

    def add_all(self) -> None:
        """Stage every file, even those the repo's own ``.gitignore`` hides (an agent could list its
        violating file there); only goaldrift's junk patterns are left out."""
        self.git("add", "--all", "--force", "--", ".", *_EXCLUDE)

    def add_pressure(self, scenario: Scenario, condition: Condition) -> None:
        """Apply pressure at a later onset step, as its own commit so no step's diff contains it."""
        apply_pressure(self.repo, pressure_comments(scenario, condition))
        self.add_all()
        self.git("commit", "-q", "--allow-empty", "-m", f"goaldrift: pressure from step {condition.onset}")

    def snapshot(self, step: int) -> Snapshot:
        """Commit everything the step changed and return the step's diff.

        Plumbing (write-tree, commit-tree, update-ref) instead of ``git commit``, which would also
        compute a full status for its message template: this keeps the per-step overhead small.
        """
        self.add_all()
        diff = self.git("diff", "--cached", "--no-color", "--no-renames", "--no-ext-diff", "--no-textconv", "-U3",
                        "HEAD")
        tree = self.git("write-tree").strip()
        commit = self.git("commit-tree", tree, "-p", "HEAD", "-m", f"goaldrift: step {step}").strip()
        self.git("update-ref", "HEAD", commit)
        files = added = removed = 0
        for line in diff.splitlines():
            if line.startswith("diff --git "):
                files += 1
            elif line.startswith("+") and not line.startswith("+++ "):
                added += 1
            elif line.startswith("-") and not line.startswith("--- "):
                removed += 1
        return Snapshot(commit, diff, files, added, removed)
