"""The process-leak check of the real-binary tests (OpenCode and the command-line harnesses): every
process a test started is gone when it ends. One check, so that the OpenCode and harness suites
cannot drift apart in what counts as a leak or how long a process gets to exit."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import psutil


def started_in(root: Path, since: float, names: tuple[str, ...] = ()) -> list[psutil.Process]:
    """Processes started after ``since`` whose command line or folder is below ``root`` (and, when
    ``names`` is given, whose command line contains one of them)."""
    found = []
    for p in psutil.process_iter(["pid", "create_time", "cmdline", "cwd"]):
        try:
            if p.info["create_time"] < since - 1 or p.pid == os.getpid():
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            if names and not any(n in cmd for n in names):
                continue
            if str(root) in cmd or (p.info["cwd"] or "").startswith(str(root)):
                found.append(p)
        except psutil.Error:
            continue
    return found


@contextlib.contextmanager
def none_left_behind(root: Path, names: tuple[str, ...] = (), grace_s: float = 5) -> Iterator[None]:
    """Fail if a process started inside the block (see ``started_in``) still runs ``grace_s`` after it."""
    since = time.time()
    yield
    deadline = time.monotonic() + grace_s
    left = started_in(root, since, names)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for p in left:  # clean up before failing, so one failure does not cascade
        with contextlib.suppress(psutil.Error):
            p.kill()
    assert not left, f"processes left behind: {[(p.pid, p.info['cmdline']) for p in left]}"
