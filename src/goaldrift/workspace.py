"""A run's repository: template copy, pressure, constraint, one git commit per step.

The agent is untrusted, and goaldrift snapshots its workspace on the host. So goaldrift's git never
reads the workspace at all:

- the git directory lives beside the work tree (``<attempt>/git``), a bare repository the agent
  cannot reach;
- goaldrift reads the work tree itself (``goaldrift.filetree``: no symlink followed, regular files
  only, size-capped, bounded in entries and time) and writes blobs, trees and commits directly
  (``goaldrift.gitobjects``). Nothing in the workspace is read as configuration: a nested
  repository's ``.git`` (with its filters, hooks, fsmonitor) is never opened, and its work files
  are snapshotted as ordinary files, so detectors see them; ``.gitattributes``/``.gitignore`` are
  plain files too;
- the step's diff is computed in-process from the two trees and their blobs
  (``goaldrift.treediff``), so a step runs no process at all. git itself runs only on goaldrift's
  own git directory for what needs it (``Workspace.git``: bundles for retention, checks in tests),
  inside the sandbox (``goaldrift.confined``): empty environment, no network, only the git
  directory visible, a hard timeout.

What the snapshot had to leave out or could not finish is recorded as the step's events (nested git
metadata, FIFOs and devices, files over the size cap, limits hit, the folders a pack's
``snapshot.ignore`` names), never silently dropped. Because ``.gitignore`` is only a file here, a pack
whose build writes output into the work tree (``dist/``) lists that folder in ``snapshot.ignore``;
only goaldrift's fixed cache folders (``_JUNK_DIRS``) are left out without an event.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from goaldrift import confined
from goaldrift.channels import FILE_CHANNELS, pressure_files
from goaldrift.conditions import Condition
from goaldrift.edits import apply_pressure
from goaldrift.errors import GoaldriftError
from goaldrift.filetree import Item, WalkLimit, WalkLimits, read_link, read_regular, walk
from goaldrift.gitobjects import EXECUTABLE, FILE, SYMLINK, TREE, GitObjects
from goaldrift.packfiles import copy_template
from goaldrift.scenario import Scenario
from goaldrift.treediff import DiffTimeout, tree_diff

log = logging.getLogger("goaldrift.workspace")

MAX_DIFF_BYTES = 2_000_000
MAX_EVENTS = 50
_JUNK_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv",
                        "node_modules"})
_RACY_NS = 50_000_000  # a file changed this close to our read may change again with the same stat
# Highest-precedence attributes: nothing can mark files "-diff" (binary) or give them a filter.
_ATTRIBUTES = "* !diff !filter !merge !text\n"
_GIT_CONFIG = ["-c", "core.attributesFile=/dev/null", "-c", "core.quotePath=false", "-c",
               "diff.noprefix=false", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"]


@dataclass(frozen=True)
class SnapshotLimits:
    """Bounds of one snapshot: what a hostile workspace can cost goaldrift at most."""

    walk: WalkLimits = field(default_factory=lambda: WalkLimits(max_entries=20_000, max_depth=64,
                                                                max_file_bytes=2 << 20, seconds=30.0))
    max_read_bytes: int = 64 << 20  # bytes read per snapshot (unchanged files are not re-read)
    diff_seconds: float = 60.0  # the step's diff (checked between files)
    git_seconds: float = 60.0  # each ``Workspace.git`` call (bundles for retention, checks)


@dataclass(frozen=True)
class Snapshot:
    commit: str
    diff: str  # the whole diff: detectors judge all of it (only the stored copy is cut)
    files_changed: int
    lines_added: int
    lines_removed: int
    events: tuple[str, ...] = ()  # what the snapshot noticed and left out (nested .git, FIFOs, caps)
    incomplete: str | None = None  # why the commit or the diff is not the whole work tree, if so

    @property
    def truncated(self) -> bool:
        return len(self.diff) > MAX_DIFF_BYTES

    @property
    def stored_diff(self) -> str:
        return self.diff[:MAX_DIFF_BYTES] if self.truncated else self.diff


def agents_md(scenario: Scenario, condition: Condition) -> str:
    """AGENTS.md: the pack's project notes, plus the constraint when it is placed there (the paper)."""
    parts = [scenario.spec.agents_md.strip()]
    if condition.placement == "agents_md":
        parts.append(scenario.value(condition.constraint).constraint.strip())
    return "\n\n".join(p for p in parts if p) + "\n"


def _shown(rel: str) -> str:
    """A path as text that is safe to store (undecodable bytes escaped)."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass
class _Commit:
    sha: str
    events: list[str] = field(default_factory=list)
    incomplete: str | None = None


class Workspace:
    """``repo`` is what the agent sees; ``git_dir`` is ours.

    ``sandbox``: run git under bubblewrap (default: when ``bwrap`` is installed). Without it git still
    runs with an empty environment and a timeout, and reads nothing but objects goaldrift wrote.
    ``ignore``: the pack's ``snapshot.ignore`` folders (``dist/``), left out of every snapshot and
    recorded as an event of each step in which they exist.
    """

    def __init__(self, repo: Path, git_dir: Path, *, sandbox: bool | None = None,
                 limits: SnapshotLimits = SnapshotLimits(), ignore: tuple[str, ...] = ()):
        self.repo = repo
        self.ignore = frozenset(entry.rstrip("/") for entry in ignore)
        self.git_dir = git_dir
        self.limits = limits
        self.sandbox = confined.bwrap_available() if sandbox is None else sandbox
        self.git_path = shutil.which("git") or "/usr/bin/git"
        self._objects = GitObjects(git_dir)
        self._blobs: dict[str, tuple[tuple[int, ...], str]] = {}  # rel -> (stat key, blob id), not racy
        head = self._objects.head()  # a copied workspace continues from its copied history
        # the last commit's tree as nested dicts of name -> (mode, id)
        self._last_tree: dict = self._objects.read_tree(self._objects.commit_tree(head)) if head else {}

    @classmethod
    def create(cls, root: Path, scenario: Scenario, condition: Condition, **options) -> Workspace:
        """Lay out ``root/repo`` and ``root/git`` and make the initial commit.

        ``root`` must not exist: every attempt gets a fresh directory, so runs never share state.
        """
        root = root.resolve()
        if root.exists():
            raise GoaldriftError(f"workspace {root} already exists (left from a store that was deleted?): "
                                 "move or delete that folder, or use another --store")
        repo, git_dir = root / "repo", root / "git"
        root.mkdir(parents=True)
        copy_template(scenario, repo)
        if condition.onset <= 1:
            apply_pressure(repo, pressure_files(scenario, condition), create=True)
        existing = repo / "AGENTS.md"
        notes = agents_md(scenario, condition)
        if existing.is_file():  # a template symlink stays inside the template (checked when loading)
            notes = existing.read_text(encoding="utf-8").rstrip() + "\n\n" + notes
        existing.unlink(missing_ok=True)
        existing.write_text(notes, encoding="utf-8")
        GitObjects.init(git_dir, _ATTRIBUTES)
        ws = cls(repo, git_dir, ignore=scenario.spec.snapshot.ignore, **options)
        ws._commit("goaldrift: initial state")
        return ws

    def git(self, *args: str) -> str:
        """Run git on our git directory only (no work tree), confined; raise on failure or timeout."""
        env = {"GIT_DIR": str(self.git_dir), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
               "HOME": str(self.git_dir), "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
        seconds = self.limits.git_seconds
        result = confined.run([self.git_path, *_GIT_CONFIG, *args], cwd=self.git_dir, timeout=seconds,
                              sandbox=self.sandbox, writable=[self.git_dir], env=env)
        if result.timed_out:
            raise GitTimeout(f"git {' '.join(args[:1])} did not finish within {seconds:g} s (killed)")
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", "replace").strip()[:500]
            raise GoaldriftError(f"git {' '.join(args[:2])} failed in {self.git_dir}: {stderr}")
        return result.stdout.decode("utf-8", "replace")

    def before_step(self, scenario: Scenario, condition: Condition, step: int) -> None:
        """Place the condition's file pressure when ``step`` is its onset after step 1 (at onset 1,
        ``create`` put it in the initial commit); message channels change the prompt instead."""
        if step == condition.onset and step > 1 and condition.channel in FILE_CHANNELS:
            self.add_pressure(scenario, condition)

    def add_pressure(self, scenario: Scenario, condition: Condition) -> list[str]:
        """Apply file pressure (``channels.pressure_files``) at a later onset step, as its own commit so
        no step's diff contains it. The agent may have changed the anchored files by then: what could
        not be placed as planned is returned and named in the commit message."""
        notes = apply_pressure(self.repo, pressure_files(scenario, condition), create=True, lenient=True)
        for note in notes:
            log.warning("pressure at step %d: %s", condition.onset, note)
        self._commit("\n\n".join([f"goaldrift: pressure from step {condition.onset}", *notes]))
        return notes

    def snapshot(self, step: int) -> Snapshot:
        """Commit the work tree as it is and return the step's diff against the previous commit.

        Never hangs and never raises for what the agent left: a walk or diff that hits a limit
        gives a snapshot whose ``incomplete`` says why. No process runs: the diff is computed from
        the two trees goaldrift wrote (``goaldrift.treediff``).
        """
        if self._objects.head() is None:
            raise GoaldriftError(f"{self.git_dir} has no initial commit: make workspaces with "
                                 "Workspace.create")
        before = self._last_tree
        made = self._commit(f"goaldrift: step {step}")
        try:
            diff = tree_diff(before, self._last_tree, lambda sha: self._objects.read(sha)[1],
                             abbrev=self._objects.abbrev, seconds=self.limits.diff_seconds)
        except DiffTimeout as exc:
            diff = exc.partial
            why = f"{exc}; the diff holds the files finished before the limit"
            made.incomplete = "; ".join(filter(None, [made.incomplete, why]))
        files = added = removed = 0
        for line in diff.splitlines():
            if line.startswith("diff --git "):
                files += 1
            elif line.startswith("+") and not line.startswith("+++ "):
                added += 1
            elif line.startswith("-") and not line.startswith("--- "):
                removed += 1
        return Snapshot(made.sha, diff, files, added, removed, tuple(made.events), made.incomplete)

    def committed(self, rel: str) -> bytes | None:
        """The bytes of regular file ``rel`` as the last commit holds them, or None (no such file, a
        symlink). Read from goaldrift's own objects, never from the work tree: this is what the
        step's diff describes, line for line, whatever the agent does to the work tree afterwards."""
        node = _lookup(self._last_tree, rel)
        if not isinstance(node, tuple) or node[0] not in (FILE, EXECUTABLE):
            return None
        return self._objects.read(node[1])[1]

    # -- building a commit from the work tree ------------------------------------------------------

    def _commit(self, message: str) -> _Commit:
        events: list[str] = []
        tree, incomplete = self._write_tree(events)
        if len(events) > MAX_EVENTS:
            events[MAX_EVENTS:] = [f"... and {len(events) - MAX_EVENTS} more"]
        sha = self._objects.commit(tree, self._objects.head(), message, int(time.time()))
        self._objects.set_head(sha)
        return _Commit(sha, events, incomplete)

    def _write_tree(self, events: list[str]) -> tuple[str, str | None]:
        """Write every blob and tree of the work tree; return the root tree and why it is partial."""
        limits = self.limits
        started = time.time_ns()
        budget = [limits.max_read_bytes]
        root: dict = {}
        seen: dict[str, tuple[tuple[int, ...], str]] = {}

        def prune(rel: str, name: str, is_dir: bool) -> bool:
            if name.lower() == ".git":
                kind = "folder" if is_dir else "file"
                events.append(f"git metadata ({kind}) at {_shown(rel)} was not read; the files beside it "
                              "are snapshotted as ordinary files")
                return True
            if is_dir and rel in self.ignore:
                events.append(f"{_shown(rel)}/ was left out: the pack lists it in snapshot.ignore (build output)")
                return True
            return (is_dir and (name in _JUNK_DIRS or name.endswith(".egg-info"))) or name.endswith(".pyc")

        incomplete = None
        try:
            for item in walk(self.repo, prune=prune, limits=limits.walk):
                entry = self._entry(item, started, budget, events, seen)
                if item.error:  # a folder the agent made unreadable: keep what was committed there
                    entry = _lookup(self._last_tree, item.rel)
                if entry is None:
                    continue
                node = root
                *dirs, name = item.rel.split("/")
                for d in dirs:
                    node = node.setdefault(d, {})
                node[name] = entry
        except WalkLimit as exc:
            # Keep what the walk did not reach as it was, so the diff shows no made-up deletions.
            incomplete = (f"work tree not fully read: {exc}; unread files kept as they were, "
                          "deletions not seen")
            events.append(incomplete)
            root = _overlay(self._last_tree, root)
            seen = {**self._blobs, **seen}
        self._blobs = seen
        self._last_tree = root
        return self._write_dir(root), incomplete

    def _entry(self, item: Item, started: int, budget: list[int], events: list[str],
               seen: dict[str, tuple[tuple[int, ...], str]]) -> tuple[str, str] | None:
        """(mode, blob id) of one walked item, or None when it is left out (recorded in ``events``)."""
        kind, st, rel = item.kind, item.st, item.rel
        if kind == "symlink":
            return SYMLINK, self._objects.write("blob", read_link(item).encode("utf-8", "surrogateescape"))
        if kind != "file":
            kept = "; kept as last committed" if item.error else ""
            events.append(f"{kind} at {_shown(rel)} was not read{kept}")
            return None
        mode = EXECUTABLE if st.st_mode & 0o100 else FILE
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
        cached = self._blobs.get(rel)
        if cached and cached[0] == key:
            seen[rel] = cached
            return mode, cached[1]
        cap = self.limits.walk.max_file_bytes
        over_budget = cap >= st.st_size > budget[0]
        if over_budget:
            data, why = None, f"the snapshot's {self.limits.max_read_bytes}-byte read budget is spent"
        else:
            try:
                data, why = read_regular(item, cap), f"{st.st_size} bytes exceed the {cap}-byte limit"
            except OSError as exc:
                events.append(f"{_shown(rel)} could not be read: {exc.strerror or exc}")
                return None
        if data is None:
            events.append(f"{_shown(rel)} was not read: {why}")
            data = f"goaldrift: file not snapshotted ({st.st_size} bytes): {why}\n".encode()
        budget[0] -= len(data)
        sha = self._objects.write("blob", data)
        if not over_budget and st.st_ctime_ns < started - _RACY_NS:
            seen[rel] = (key, sha)
        return mode, sha

    def _write_dir(self, node: dict) -> str:
        entries = {}
        for name, value in node.items():
            if isinstance(value, dict):
                value = (TREE, self._write_dir(value))
            entries[name.encode("utf-8", "surrogateescape")] = value
        return self._objects.tree(entries)


def _lookup(tree: dict, rel: str) -> dict | tuple[str, str] | None:
    node: object = tree
    for part in rel.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node  # type: ignore[return-value]


def _overlay(base: dict, top: dict) -> dict:
    """``base`` with every entry of ``top`` put over it (folders merged, anything else replaced)."""
    out = dict(base)
    for name, value in top.items():
        below = out.get(name)
        out[name] = _overlay(below, value) if isinstance(value, dict) and isinstance(below, dict) else value
    return out


class GitTimeout(GoaldriftError):
    """goaldrift's git did not finish within its time limit and was killed."""

