"""Per-command cgroups for the limits an rlimit cannot enforce.

``RLIMIT_NPROC`` does not bind a process whose real user is root (the kernel exempts uid 0 even
inside a user namespace), and ``RLIMIT_DATA`` limits each process, not a tree. Where goaldrift may
create cgroups (root, or a delegated cgroup v2 subtree), each wrapped command gets its own group under
goaldrift's current one with ``pids.max`` and a memory limit, joined by a tiny ``sh`` prefix before
bubblewrap starts (so nothing inside can escape it). Groups left empty by finished commands are
removed the next time a group is made, and at exit; empty groups of a goaldrift process that no longer
exists (killed before its exit handler ran) are removed when the controllers are first looked up.

Found once per process: the cgroup v1 ``pids``/``memory`` hierarchies, or the v2 unified hierarchy when
the controllers are enabled for goaldrift's group's children. Without them only the rlimits apply
(``available()`` says so; ``goaldrift doctor`` reports it).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from goaldrift.sandbox.policy import Limits

JOIN = 'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 126; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class Controller:
    """Where to make groups for one limit, and the file that sets it."""

    base: Path
    limit_file: str


def _mounts() -> list[tuple[str, str, set[str]]]:
    out = []
    with contextlib.suppress(OSError), open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
                out.append((fields[1], fields[2], set(fields[3].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """goaldrift's own cgroup per controller (``""`` for the v2 hierarchy)."""
    paths = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup", encoding="utf-8") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(",") if names else [""]:
                paths[name] = path
    return paths


def _find() -> dict[str, Controller]:
    own = _own_paths()
    found: dict[str, Controller] = {}
    for mount, kind, options in _mounts():
        if kind == "cgroup":
            for name, limit in (("pids", "pids.max"), ("memory", "memory.limit_in_bytes")):
                if name in options and name in own:
                    base = Path(mount + own[name])
                    if os.access(base, os.W_OK):
                        found.setdefault(name, Controller(base, limit))
        elif "" in own:
            base = Path(mount + own[""])
            try:
                enabled = (base / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            for name, limit in (("pids", "pids.max"), ("memory", "memory.max")):
                if name in enabled and os.access(base, os.W_OK):
                    found.setdefault(name, Controller(base, limit))
    return found


_CONTROLLERS: dict[str, Controller] | None = None
# Groups made by this process, with when they were made. A group is empty between its creation and
# the moment its command's shell joins it, so the sweep leaves young groups alone (another trial's
# command may be about to start in it); the lock makes the sweep safe from scoring threads.
_MADE: dict[Path, float] = {}
_LOCK = threading.Lock()
_GRACE_S = 120.0
_COUNTER = itertools.count()


def controllers() -> dict[str, Controller]:
    global _CONTROLLERS
    if _CONTROLLERS is None:
        _CONTROLLERS = _find()
        for controller in _CONTROLLERS.values():
            _remove_stale(controller.base)
    return _CONTROLLERS


def _remove_stale(base: Path) -> None:
    """Remove empty ``goaldrift-<pid>-<n>`` groups whose goaldrift process is gone."""
    for group in base.glob("goaldrift-*-*"):
        try:
            pid = int(group.name.split("-")[1])
        except ValueError:
            continue
        if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
            with contextlib.suppress(OSError):  # still has processes: not ours to touch
                group.rmdir()


def available() -> list[str]:
    """The limits goaldrift can enforce with cgroups here (``pids``, ``memory``)."""
    return sorted(controllers())


def _sweep(grace_s: float = _GRACE_S) -> None:
    """Remove the groups of finished commands (``rmdir`` fails on a group that still has processes);
    groups younger than ``grace_s`` may still be waiting for their command and are kept."""
    now = time.monotonic()
    with _LOCK:
        for path, made in list(_MADE.items()):
            if now - made < grace_s:
                continue
            try:
                path.rmdir()
                del _MADE[path]
            except FileNotFoundError:
                del _MADE[path]
            except OSError:
                pass


def _sweep_all() -> None:
    _sweep(grace_s=0.0)


atexit.register(_sweep_all)


def join_prefix(limits: Limits) -> list[str]:
    """An argv prefix that moves the command into fresh groups with ``limits``; ``[]`` without cgroups."""
    wanted = {"pids": limits.processes, "memory": limits.memory_bytes}
    procs: list[str] = []
    _sweep()
    for name, controller in controllers().items():
        value = wanted.get(name)
        if value is None:
            continue
        group = controller.base / f"goaldrift-{os.getpid()}-{next(_COUNTER)}"
        try:
            group.mkdir()
            (group / controller.limit_file).write_text(str(value))
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            continue
        with _LOCK:
            _MADE[group] = time.monotonic()
        procs.append(str(group / "cgroup.procs"))
    return ["/bin/sh", "-c", JOIN, "sh", *procs, "--"] if procs else []

