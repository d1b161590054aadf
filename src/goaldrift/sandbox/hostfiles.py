"""Opening, outside the sandbox, files the agent could have written.

goaldrift must read some files from directories the agent can write (OpenCode's session database).
The agent may have replaced any of them, or a directory on the way, with a symlink to a host file, a
FIFO that blocks the reader forever, or a sparse file of a terabyte. So every such file is opened
component by component with ``O_NOFOLLOW`` (no symlink anywhere below the trusted root), with
``O_NONBLOCK`` (opening a FIFO does not wait for a writer), checked with ``fstat`` to be a regular
file, and read only up to a size cap. Nothing here ever writes or truncates.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from goaldrift.errors import UnsafeFile

__all__ = ["UnsafeFile", "copy_below", "open_below", "read_head", "read_tail"]


def open_below(root: Path, relative: str | Path) -> int:
    """A read-only descriptor of ``root/relative``, following no symlink below ``root``."""
    parts = Path(relative).parts
    if not parts or any(p in ("..", "/") for p in parts):
        raise UnsafeFile(f"{relative}: must be a relative path inside {root}")
    flags_dir = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, flags_dir, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
    except OSError as exc:
        raise UnsafeFile(f"{root / relative}: cannot open without following links ({exc.strerror})") from None
    finally:
        os.close(fd)
    st = os.fstat(leaf)
    if not stat.S_ISREG(st.st_mode):
        os.close(leaf)
        raise UnsafeFile(f"{root / relative}: not a regular file")
    return leaf


def copy_below(root: Path, relative: str | Path, target: Path, max_bytes: int) -> bool:
    """Copy ``root/relative`` to ``target`` (a path goaldrift owns) if it is a regular file of at most
    ``max_bytes`` bytes; False when it does not exist. ``UnsafeFile`` for anything else."""
    try:
        fd = open_below(root, relative)
    except UnsafeFile:
        if not os.path.lexists(Path(root) / relative):
            return False
        raise
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise UnsafeFile(f"{Path(root) / relative}: {size} bytes, more than the {max_bytes} allowed")
        with open(target, "xb") as out:
            left = max_bytes
            while left > 0 and (chunk := os.read(fd, min(1 << 20, left))):
                out.write(chunk)
                left -= len(chunk)
    finally:
        os.close(fd)
    return True


def read_head(path: Path, max_bytes: int = 1 << 16) -> str:
    """At most the first ``max_bytes`` of a goaldrift-owned log, as text ('' if it cannot be read)."""
    with contextlib.suppress(OSError), open(path, "rb") as f:
        return f.read(max_bytes).decode("utf-8", "replace")
    return ""


def read_tail(path: Path, max_bytes: int = 1 << 14) -> str:
    """At most the last ``max_bytes`` of a goaldrift-owned log, as text ('' if it cannot be read)."""
    with contextlib.suppress(OSError), open(path, "rb") as f:
        f.seek(max(0, os.fstat(f.fileno()).st_size - max_bytes))
        return f.read(max_bytes).decode("utf-8", "replace")
    return ""


def tail_lines(path: Path, lines: int = 10) -> str:
    """The last ``lines`` lines of a harness log (read as ``read_tail`` does), joined for one message."""
    return " / ".join(read_tail(path).strip().splitlines()[-lines:])
