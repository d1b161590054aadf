"""Starting and stopping OpenCode processes without ever leaving one behind.

Every process is started in its own session (so its whole tree is one process group), with
``PR_SET_PDEATHSIG`` = SIGKILL (it dies if goaldrift dies, even by SIGKILL), optionally inside
bubblewrap (``--die-with-parent --unshare-pid``: when the sandbox's init dies the kernel kills
everything inside). ``stop`` kills by PID: SIGTERM to the group, then SIGKILL to the group and to
every descendant found with psutil (a child that called ``setsid`` escapes the group, not the tree).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import psutil

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except Exception:  # noqa: BLE001, S110 — best effort; the process group kill still applies
            pass


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def bwrap_works() -> bool:
    """bubblewrap is installed and can create its namespaces here (it cannot in some containers)."""
    path = bwrap_path()
    if not path:
        return False
    import subprocess

    try:
        out = subprocess.run([path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                              "--unshare-pid", "--die-with-parent", "true"],
                             capture_output=True, timeout=20, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def sandbox_argv(argv: Sequence[str], *, writable: Sequence[Path], readonly: Sequence[Path] = (),
                 cwd: Path | None = None) -> list[str]:
    """Wrap ``argv`` in bubblewrap: the whole file system read-only, ``/tmp``, ``/root`` and
    ``/home`` replaced by empty tmpfs (no user files, keys or caches are visible), then ``readonly``
    and ``writable`` bound back at their own paths. The network is shared (the gateway is on
    127.0.0.1); the PID namespace is not, so nothing inside outlives the sandbox."""
    bw = bwrap_path()
    if bw is None:
        raise FileNotFoundError("bwrap")
    cmd = [bw, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--tmpfs", "/tmp", "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    for hidden in ("/root", "/home", "/run"):  # /run: no docker socket, no user D-Bus
        if Path(hidden).is_dir():
            cmd += ["--tmpfs", hidden]
    for path in readonly:
        cmd += ["--ro-bind", str(path), str(path)]
    for path in writable:
        cmd += ["--bind", str(path), str(path)]
    if cwd is not None:
        cmd += ["--chdir", str(cwd)]
    return cmd + ["--", *argv]


class ManagedProcess:
    """One child process (and its tree) that goaldrift started and will stop."""

    def __init__(self, proc: asyncio.subprocess.Process, argv: Sequence[str]):
        self.proc = proc
        self.pid = proc.pid
        self.argv = list(argv)

    @classmethod
    async def start(cls, argv: Sequence[str], *, env: dict[str, str], cwd: Path,
                    stdin: int | None = asyncio.subprocess.DEVNULL, stdout=None, stderr=None) -> ManagedProcess:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=str(cwd), stdin=stdin, stdout=stdout, stderr=stderr,
            start_new_session=True, preexec_fn=_die_with_parent)
        return cls(proc, argv)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def alive(self) -> bool:
        if self.proc.returncode is not None:
            return False
        try:
            p = psutil.Process(self.pid)
            return p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_bytes(self) -> int:
        total = 0
        for p in self.tree():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    async def wait(self, timeout: float | None = None) -> int | None:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            return None

    async def stop(self, grace_s: float = 3.0) -> None:
        """Stop the process and its whole tree; idempotent, safe after the process died."""
        descendants = self.tree()[1:]
        _signal_group(self.pid, signal.SIGTERM)
        if self.proc.returncode is None:
            await self.wait(grace_s)
        _signal_group(self.pid, signal.SIGKILL)
        for p in descendants + self.tree():
            with contextlib.suppress(psutil.Error):
                p.kill()
        if self.proc.returncode is None:
            await self.wait(5.0)
        # Reap anything of ours that is left (zombies in the group).
        for p in descendants:
            with contextlib.suppress(psutil.Error):
                p.wait(timeout=1)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
