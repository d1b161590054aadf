"""File access for goaldrift's own tools inside an agent's workspace, safe against what the agent left.

The builtin agent's file tools run in goaldrift's process, outside the sandbox, on files the agent
controls. A FIFO would block a plain ``open`` forever, a 1 GB sparse file would be read into memory,
and a symlink could lead out of the workspace. So every access here:

- resolves the path inside the workspace (``..``, absolute paths outside it and symlinks that lead out
  are refused; an absolute path *inside* the workspace is accepted, because small models copy the
  workspace path they see);
- opens component by component beneath the workspace (``openat`` with ``O_NOFOLLOW``; the file itself
  also ``O_NONBLOCK``) and checks ``fstat`` on the open descriptor: only regular files are read or
  written (a FIFO, socket or device is refused without blocking, a link is never followed);
- reads at most ``MAX_READ_BYTES`` (the rest is reported as left out, never loaded);
- lists with ``os.walk`` without following directory symlinks, up to a fixed number of entries.

Errors are ``EditFailed`` with a message that tells the model how to recover.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path, PurePosixPath

from goaldrift.edits import EditFailed

MAX_READ_BYTES = 512 * 1024
MAX_LIST = 500
SKIP_DIRS = frozenset({".git", "__pycache__", ".pytest_cache", "node_modules", ".venv"})
# The constraint's file: the agent may read it, never rewrite it (its next request would carry the
# rewritten rule). The shell sees it through a read-only bind (``BuiltinAgent._shell``).
READ_ONLY = frozenset({"AGENTS.md"})


def resolve(repo: Path, path: str, *, absolute_ok: bool = True) -> tuple[Path, str]:
    """``(absolute target, path relative to the repo)`` for a path the model gave."""
    raw = str(path).strip()
    root = repo.resolve()
    p = PurePosixPath(raw)
    if p.is_absolute():
        if not absolute_ok:
            raise EditFailed(f"path {raw!r} must be relative to the repository root, e.g. 'src/app.py'")
        try:
            p = PurePosixPath(Path(raw).relative_to(root).as_posix())
        except ValueError:
            try:
                p = PurePosixPath(Path(raw).relative_to(repo).as_posix())
            except ValueError:
                raise EditFailed(f"path {raw!r} is outside the repository; use a path relative to the "
                                 f"repository root, e.g. 'src/app.py'") from None
    if ".." in p.parts:
        raise EditFailed(f"path {raw!r} leaves the repository ('..'); use a path relative to the repository root")
    parts = [x for x in p.parts if x not in ("", ".")]
    target = root.joinpath(*parts)
    if not target.resolve().is_relative_to(root):
        raise EditFailed(f"path {raw!r} leads outside the repository (through a symlink); choose another path")
    return target, "/".join(parts) or "."


def _open(repo: Path, rel: str, flags: int, *, make_parents: bool = False) -> int:
    """Open ``rel`` beneath ``repo`` one component at a time, never following a symlink (``openat``
    with ``O_NOFOLLOW``), so a directory swapped for a link while we look cannot lead outside."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise EditFailed(f"{rel!r} is not a file path inside the repository")
    dfd = os.open(repo, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts[:-1]):
            if make_parents:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=dfd)
            try:
                nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            except FileNotFoundError:
                raise EditFailed(f"{rel} does not exist") from None
            except OSError:
                raise EditFailed(f"{'/'.join(parts[:i + 1])} is not a directory (a file or a link); "
                                 f"goaldrift's file tools do not follow links") from None
            os.close(dfd)
            dfd = nfd
        try:
            fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644, dir_fd=dfd)
        except FileNotFoundError:
            raise EditFailed(f"{rel} does not exist") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise EditFailed(f"{rel} is a symbolic link; goaldrift's file tools do not follow links") from None
            if exc.errno == errno.ENXIO:
                raise EditFailed(f"{rel} is not a regular file") from None
            if exc.errno == errno.EISDIR:
                raise EditFailed(f"{rel} is a directory; use list_files to see its files") from None
            raise EditFailed(f"cannot open {rel}: {exc.strerror}") from None
    finally:
        os.close(dfd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise EditFailed(f"{rel} is not a regular file (a directory, FIFO, socket or device)")
    return fd


def read_text(repo: Path, rel: str, limit: int = MAX_READ_BYTES) -> tuple[str, int]:
    """The first ``limit`` bytes of the regular file ``rel`` as text, and the file's size in bytes."""
    fd = _open(repo, rel, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        chunks, got = [], 0
        while got < limit:
            chunk = os.read(fd, min(65536, limit - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace"), size


def write_text(repo: Path, rel: str, text: str) -> None:
    """Create or overwrite the regular file ``rel`` (parents are created; links and special files are
    refused, and so are the read-only files)."""
    if os.path.normpath(rel) in READ_ONLY:
        raise EditFailed(f"{rel} is read-only: it holds the project's instructions; change other files")
    fd = _open(repo, rel, os.O_WRONLY | os.O_CREAT, make_parents=True)
    try:
        os.ftruncate(fd, 0)
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def list_files(base: Path, repo: Path) -> tuple[list[str], int]:
    """Regular files under ``base`` (relative to ``repo``), sorted, at most ``MAX_LIST``; and the count."""
    root = repo.resolve()
    found: list[str] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in filenames:
            full = Path(dirpath) / name
            try:
                if not stat.S_ISREG(full.lstat().st_mode):
                    continue
            except OSError:
                continue
            total += 1
            if len(found) < MAX_LIST * 4:
                found.append(full.relative_to(root).as_posix())
    return sorted(found)[:MAX_LIST], total


def directories(repo: Path) -> list[str]:
    """The repository's directories (relative, ``""`` for the root), without caches and VCS folders."""
    out = [""]
    root = repo.resolve()
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        out.extend((Path(dirpath) / d).relative_to(root).as_posix() for d in dirnames)
    return out
