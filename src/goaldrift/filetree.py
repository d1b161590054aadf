"""Reading a folder that someone else controls — an agent's workspace, a pack's template — safely.

goaldrift reads these folders on the host, outside any sandbox. Whatever is in them must not be able
to make goaldrift read a host file, block, or run out of memory, so this walk:

- never follows a symlink: every directory is opened relative to its parent's descriptor with
  ``O_NOFOLLOW``, symlinks are reported as symlinks (their target text, never their target);
- opens only regular files, with ``O_NONBLOCK`` (a FIFO swapped in after the ``lstat`` cannot block
  the open) and checks the opened file with ``fstat``; FIFOs, sockets and devices are reported, not read;
- reads at most ``max_file_bytes`` of a file, and judges size by ``st_size`` before reading, so a
  1 GB sparse file costs nothing;
- stops at ``max_entries`` items, ``max_depth`` levels or a deadline (``WalkLimit``), so 100,000 small
  files or a directory that keeps growing end the walk instead of the runner.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from goaldrift.errors import GoaldriftError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


class WalkLimit(GoaldriftError):
    """The walk stopped early: too many entries, too deep, or past its deadline."""


@dataclass(frozen=True)
class WalkLimits:
    max_entries: int = 50_000
    max_depth: int = 64
    max_file_bytes: int = 2 << 20
    seconds: float = 30.0


_DEFAULT = WalkLimits()


@dataclass(frozen=True)
class Item:
    """One non-directory entry: ``rel`` is its POSIX path below the root, ``st`` its ``lstat``.

    ``dir_fd`` is the open descriptor of its directory, valid only until the walk moves on: read it
    with ``read_regular(item, ...)`` / ``read_link(item)`` while handling the item.
    """

    rel: str
    name: str
    dir_fd: int
    st: os.stat_result
    error: str | None = None  # set for a folder that could not be opened (it is not descended)

    @property
    def kind(self) -> str:
        if self.error:
            return f"folder that cannot be opened ({self.error})"
        mode = self.st.st_mode
        if stat.S_ISREG(mode):
            return "file"
        if stat.S_ISLNK(mode):
            return "symlink"
        return {stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "character device",
                stat.S_IFBLK: "block device"}.get(stat.S_IFMT(mode), "special file")


def walk(root: os.PathLike | str, *, prune: Callable[[str, str, bool], bool] = lambda rel, name, is_dir: False,
         limits: WalkLimits = _DEFAULT) -> Iterator[Item]:
    """Every file, symlink and special file below ``root`` in sorted path order (by path components),
    and every folder that could not be opened (``Item.error``).

    ``prune(rel, name, is_dir)`` returning True leaves an entry out (and does not descend into it).
    Raises ``WalkLimit`` when a limit is reached; items yielded before stay valid. ``root`` itself
    may not be a symlink.
    """
    budget = _Budget(limits, time.monotonic() + limits.seconds)
    fd = os.open(root, _DIR_FLAGS)
    try:
        yield from _walk_dir(fd, "", 0, prune, budget)
    finally:
        os.close(fd)


@dataclass
class _Budget:
    limits: WalkLimits
    deadline: float
    entries: int = 0


def _walk_dir(fd: int, prefix: str, depth: int, prune: Callable[[str, str, bool], bool],
              budget: _Budget) -> Iterator[Item]:
    limits = budget.limits
    names = []
    with os.scandir(fd) as it:  # collected up to the limit: a folder of a million names ends the walk early
        for entry in it:
            names.append(entry.name)
            if budget.entries + len(names) > limits.max_entries:
                raise WalkLimit(f"more than {limits.max_entries} entries")
    for name in sorted(names):
        budget.entries += 1
        if time.monotonic() > budget.deadline:
            raise WalkLimit(f"not finished within {limits.seconds:g} s")
        try:
            st = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            continue  # removed while we walked
        rel = prefix + name
        is_dir = stat.S_ISDIR(st.st_mode)
        if prune(rel, name, is_dir):
            continue
        if not is_dir:
            yield Item(rel, name, fd, st)
            continue
        if depth + 1 > limits.max_depth:
            raise WalkLimit(f"folders nested deeper than {limits.max_depth} levels at {rel}")
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed, or replaced by a file, since the lstat
        except OSError as exc:  # no permission, or replaced by a symlink (ELOOP): never followed
            yield Item(rel, name, fd, st, exc.strerror or str(exc))
            continue
        try:
            yield from _walk_dir(child, rel + "/", depth + 1, prune, budget)
        finally:
            os.close(child)


def read_file(path: str | os.PathLike[str], max_bytes: int, *, follow: bool = True) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them, for a file someone else
    named or wrote (an experiment, a pack's YAML): opened non-blocking (a FIFO never blocks), checked
    with ``fstat`` (a device such as ``/dev/zero`` is never read), and with ``follow=False`` not
    through a symlink. ``FileNotFoundError`` if it does not exist, ``ValueError`` with the reason if
    it is not a regular file within ``max_bytes``."""
    flags = _FILE_FLAGS if not follow else _FILE_FLAGS & ~os.O_NOFOLLOW
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ValueError("a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file (a FIFO, socket or device)")
        if st.st_size > max_bytes:
            raise ValueError(f"{st.st_size} bytes, more than the {max_bytes}-byte limit")
        data = os.read(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValueError(f"more than the {max_bytes}-byte limit")
    return data


def read_regular(item: Item, max_bytes: int) -> bytes | None:
    """The bytes of a regular file, or None when it is larger than ``max_bytes`` (judged by size).

    Raises ``OSError`` if the entry is no longer a regular file when opened (swapped by a racer).
    """
    if item.st.st_size > max_bytes:
        return None
    fd = os.open(item.name, _FILE_FLAGS, dir_fd=item.dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{item.rel} is no longer a regular file")
        if st.st_size > max_bytes:
            return None
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return None if len(data) > max_bytes else data
    finally:
        os.close(fd)


def read_link(item: Item) -> str:
    """A symlink's target text (never resolved)."""
    return os.readlink(item.name, dir_fd=item.dir_fd)
