"""Workspace hygiene: what ``goaldrift clean`` keeps, compacts and deletes.

Every attempt gets a fresh workspace folder (``<store folder>/workspaces/<store>-<id>/<run>-a<N>``
holding ``repo/`` (the agent's work tree), ``git/`` (our history of it, one commit per step) and
``agent/`` (the harness's private state: for OpenCode its config, database and npm cache, most of the
68-104 MB an OpenCode workspace takes). After the run nothing in goaldrift reads the folder again: every
step's diff, trace and verdicts are in the store. What is worth keeping is the history, so a finished
attempt is compacted to one ``git bundle`` (``history.bundle``, every step commit, a few hundred kB)
and the rest is deleted; ``git clone history.bundle repo`` restores the work tree at its last step
with every step's commit (docs/architecture.md, "Results folder").

Deleted outright: workspaces of ``aborted``, ``failed`` and ``superseded`` attempts (excluded from results; a rerun
starts a new attempt in a new folder), orphans (a folder no attempt row names), and the whole
workspaces folder of an earlier store at the same path (``<stem>-<other id>``: a store deleted "to
start over"; its attempts died with it). ``running`` attempts are never touched, and the runner lock is held while
cleaning so no runner can start meanwhile.

Safety: only direct children of this store's own workspaces folder are considered, each must be a
real directory (a symlink is reported and left alone, never followed), and ``shutil.rmtree`` removes
links inside without following them. git runs with the same hardened settings as during the run.
"""

from __future__ import annotations

import glob
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from goaldrift.errors import GoaldriftError
from goaldrift.store import RunnerLock, Store
from goaldrift.workspace import Workspace

BUNDLE = "history.bundle"
Action = Literal["delete", "compact", "keep", "skip"]


@dataclass(frozen=True)
class Cleanup:
    path: Path
    attempt_id: int | None
    status: str  # the attempt's status, or "orphan"
    action: Action
    bytes: int  # on disk now
    reason: str

    def to_dict(self) -> dict:
        return {"path": str(self.path), "attempt_id": self.attempt_id, "status": self.status,
                "action": self.action, "bytes": self.bytes, "reason": self.reason}


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):  # os.walk does not follow symlinked dirs
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def plan_cleanup(store: Store, keep: Literal["finished", "none"] = "finished") -> list[Cleanup]:
    """What ``clean`` would do to each folder of this store's workspaces, without doing it."""
    base = store.workspaces_dir()
    out = _earlier_stores(store, base)
    if not base.is_dir() or base.is_symlink():
        return out
    attempts = {}
    for row in store.db.execute("SELECT attempt_id, status, workspace FROM attempts WHERE workspace != ''"):
        attempts[Path(row["workspace"]).parent.name] = (row["attempt_id"], row["status"], Path(row["workspace"]).parent)
    for entry in sorted(base.iterdir()):
        if entry.is_symlink() or not entry.is_dir():
            out.append(Cleanup(entry, None, "unknown", "skip", 0, "not a real folder: left alone"))
            continue
        attempt_id, status, recorded = attempts.get(entry.name, (None, "orphan", None))
        if recorded is not None and recorded.resolve() != entry.resolve():
            attempt_id, status = None, "orphan"
        size = folder_bytes(entry)
        if status == "orphan":
            out.append(Cleanup(entry, None, status, "delete", size, "no attempt of this store uses it"))
        elif status in ("aborted", "failed", "superseded"):
            out.append(Cleanup(entry, attempt_id, status, "delete", size, f"{status} attempt: excluded from results"))
        elif status == "running":
            out.append(Cleanup(entry, attempt_id, status, "keep", size, "attempt still running"))
        elif keep == "none":
            out.append(Cleanup(entry, attempt_id, status, "delete", size, "--keep none"))
        elif is_compacted(entry):
            out.append(Cleanup(entry, attempt_id, status, "keep", size, "already compacted"))
        else:
            out.append(Cleanup(entry, attempt_id, status, "compact", size, f"history kept in {BUNDLE}"))
    return out


def _earlier_stores(store: Store, base: Path) -> list[Cleanup]:
    """Workspaces folders of deleted stores that had this store's path: ``<stem>-<12 hex>`` but not ours.

    Another store file with the same stem beside ours (``store.sqlite`` next to ``store.db``) would
    own such a folder too, so then none is reported.
    """
    parent, prefix = base.parent, store.path.stem + "-"
    path = store.path.resolve()
    namesakes = [p for p in path.parent.glob(glob.escape(path.stem) + ".*") if not p.name.startswith(path.name)]
    if not parent.is_dir() or namesakes:
        return []
    out = []
    for entry in sorted(parent.iterdir()):
        suffix = entry.name.removeprefix(prefix)
        if (entry.name.startswith(prefix) and len(suffix) == 12 and all(c in "0123456789abcdef" for c in suffix)
                and entry.name != base.name and entry.is_dir() and not entry.is_symlink()):
            out.append(Cleanup(entry, None, "orphan", "delete", folder_bytes(entry),
                               "workspaces of an earlier store at this path (deleted)"))
    return out


def is_compacted(folder: Path) -> bool:
    return (folder / BUNDLE).is_file() and not (folder / "git").exists()


def clean(store_path: Path, *, keep: Literal["finished", "none"] = "finished",
          dry_run: bool = False) -> list[Cleanup]:
    """Apply ``plan_cleanup`` to the store at ``store_path`` (holding the runner lock)."""
    store = Store(store_path, readonly=True)
    try:
        if dry_run:
            return plan_cleanup(store, keep)
        with RunnerLock(store.path):
            actions = plan_cleanup(store, keep)
            base = store.workspaces_dir().resolve()
            for a in actions:
                if a.action in ("delete", "compact"):
                    _check_inside(a.path, base)
                if a.action == "delete":
                    _rmtree(a.path)
                elif a.action == "compact":
                    compact(a.path)
            return actions
    finally:
        store.close()


def compact(folder: Path) -> Path:
    """Bundle ``folder/git`` (every ref, so every step commit) into ``folder/history.bundle``, check
    the bundle, then delete ``repo/``, ``git/`` and ``agent/``."""
    ws = Workspace(folder / "repo", folder / "git")
    bundle = folder / BUNDLE
    tmp = folder / "git" / (BUNDLE + ".tmp")  # inside the git dir: the only folder goaldrift's git sees
    ws.git("bundle", "create", str(tmp), "--all")
    ws.git("bundle", "verify", str(tmp))
    tmp.replace(bundle)
    for name in ("repo", "git", "agent"):
        part = folder / name
        if part.is_symlink():
            part.unlink()
        elif part.exists():
            _rmtree(part)
    return bundle


def _check_inside(path: Path, base: Path) -> None:
    """A folder of this store's workspaces, or an earlier store's folder beside it; nothing else."""
    real = path.resolve()
    if path.is_symlink() or real == base or real.parent not in (base, base.parent):
        raise GoaldriftError(f"refusing to touch {path}: not a workspace folder of this store")


def _rmtree(path: Path) -> None:
    """Delete a tree the agent may have made read-only (rmtree never follows symlinks)."""

    def make_writable_and_retry(func, p, _exc) -> None:
        parent = os.path.dirname(p)
        os.chmod(parent, os.lstat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        if not os.path.islink(p) and os.path.isdir(p):
            os.chmod(p, os.lstat(p).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
        func(p)

    shutil.rmtree(path, onerror=make_writable_and_retry)  # onerror: Python 3.11 has no onexc
