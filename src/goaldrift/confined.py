"""Commands goaldrift itself runs over untrusted data: git over a workspace's objects, a pack's tests.

They run on the host, started by the runner that holds API keys, so each one runs:

- under bubblewrap with an allow-list view: the system's ``/usr`` (and its ``/bin``, ``/lib`` links),
  the folders the caller names read-only or writable, a private ``/tmp`` and ``/dev``; never ``/``,
  ``/etc``, ``/home``, ``/root`` or ``/proc``; every namespace unshared (no network at all), as an
  unprivileged user, killed when goaldrift dies;
- with an empty environment plus what the caller passes (never the runner's keys);
- with a hard timeout that kills the whole process tree; a timeout is a result, never a hang.

Without bubblewrap (``sandbox=False``, or no ``bwrap`` on the machine for callers that allow it) the
command still gets the empty environment and the timeout; see each caller for why that is safe.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from goaldrift.errors import GoaldriftError
from goaldrift.sandbox import Sandbox
from goaldrift.sandbox.policy import NO_NETWORK



@dataclass(frozen=True)
class Result:
    returncode: int | None  # None when the timeout killed it
    stdout: bytes
    stderr: bytes

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def bwrap_available() -> bool:
    """Whether the one sandbox (``goaldrift.sandbox``) can run here: bubblewrap present and working."""
    try:
        Sandbox.probe("bwrap")
    except GoaldriftError:
        return False
    return True


def sandbox_argv(argv: Sequence[str], *, cwd: Path, readonly: Sequence[Path] = (),
                 writable: Sequence[Path] = (), env: dict[str, str] | None = None) -> list[str]:
    """``argv`` wrapped by the one sandbox: its allow-list view, no network, its default limits."""
    return Sandbox.probe("bwrap").wrap(argv, readonly=[Path(p) for p in readonly],
                                       writable=[Path(p) for p in writable], env=env or {}, cwd=cwd,
                                       network=NO_NETWORK)


def run(argv: Sequence[str], *, cwd: Path, timeout: float, sandbox: bool, readonly: Sequence[Path] = (),
        writable: Sequence[Path] = (), env: dict[str, str] | None = None) -> Result:
    """Run ``argv`` (sandboxed when ``sandbox``) and wait at most ``timeout`` seconds."""
    if sandbox:
        argv = sandbox_argv(argv, cwd=cwd, readonly=readonly, writable=writable, env=env)
    proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env or {}), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return Result(proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return Result(None, b"", b"")
    except BaseException:
        _kill(proc)
        raise


def _kill(proc: subprocess.Popen) -> None:
    """Kill the process group (bubblewrap's ``--die-with-parent`` then ends its pid namespace)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # a pipe held open by something outside the group: stop reading
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
        proc.wait()
