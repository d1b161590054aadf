"""Starting and stopping OpenCode processes without ever leaving one behind.

Every process is started in its own session (so its whole tree is one process group), with
``PR_SET_PDEATHSIG`` = SIGKILL (it dies if goaldrift dies, even by SIGKILL), normally inside the
sandbox (``goaldrift.sandbox``: ``--die-with-parent`` and a pid namespace, so when the sandbox's init
dies the kernel kills everything inside). ``stop`` kills by PID: SIGTERM to the group, then SIGKILL to
the group and to every descendant found with psutil (a child that called ``setsid`` escapes the group,
not the tree). ``kill_strays`` kills, between steps, everything in the tree that is not OpenCode or
the chain that started it: commands the agent left running in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Sequence
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


class ManagedProcess:
    """One child process (and its tree) that goaldrift started and will stop."""

    def __init__(self, proc: asyncio.subprocess.Process, argv: Sequence[str]):
        self.proc = proc
        self.pid = proc.pid
        self.argv = list(argv)

    @classmethod
    async def start(cls, argv: Sequence[str], *, env: dict[str, str], cwd: Path,
                    stdin: int | None = asyncio.subprocess.DEVNULL, stdout=None, stderr=None,
                    pass_fds: Sequence[int] = (), line_limit: int = 2**16) -> ManagedProcess:
        """``line_limit``: the longest line ``proc.stdout.readline()`` accepts (asyncio's ``limit``)."""
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=str(cwd), stdin=stdin, stdout=stdout, stderr=stderr,
            start_new_session=True, preexec_fn=_die_with_parent, pass_fds=tuple(pass_fds), limit=line_limit)
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

    def kill_strays(self, is_main: Callable[[psutil.Process], bool]) -> list[str]:
        """SIGKILL every process of the tree except the main one (``is_main``) and its ancestors;
        returns the command lines killed. Orphans inside a pid namespace are re-parented to the
        sandbox's init, so they are still in the tree."""
        tree = self.tree()
        main = next((p for p in tree if _quiet(is_main, p)), None)
        if main is None:
            return []
        keep = {main.pid}
        with contextlib.suppress(psutil.Error):
            keep.update(p.pid for p in main.parents())
        killed = []
        for p in tree:
            if p.pid in keep:
                continue
            with contextlib.suppress(psutil.Error):
                cmd = " ".join(p.cmdline())[:200]
                p.kill()
                killed.append(cmd)
        return killed

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


def _quiet(test: Callable[[psutil.Process], bool], p: psutil.Process) -> bool:
    try:
        return test(p)
    except psutil.Error:
        return False
