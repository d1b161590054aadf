"""Text edits on a repository: pressure comments and reference changes.

Both are applied the same way by the workspace (before the first commit) and by the scenario checker,
so a pack that validates is a pack that runs.

Pressure with a later onset is applied to a workspace the agent has already had in its hands, on
the host. So a file is edited through one descriptor opened no-follow and non-blocking, checked to
be a regular file of at most ``MAX_EDIT_BYTES``: a FIFO, a symlink or a 1 GB sparse file put where
the comment goes makes the edit fail with a message, never hang or exhaust the runner.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from goaldrift.errors import GoaldriftError
from goaldrift.scenario import EditOp, PressureComment, WriteOp, compile_anchor

MAX_EDIT_BYTES = 8 << 20
_EDIT_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


class EditFailed(GoaldriftError, ValueError):
    """An op does not apply to the repository as it is (e.g. ``old`` text not found)."""


def safe_path(repo: Path, rel: str) -> Path:
    """Resolve ``rel`` inside ``repo``; refuse absolute paths, ``..`` and symlinks that lead out.

    The agent can create symlinks (``ln -s /proc/self/environ e``); goaldrift's own file tools and
    edits run outside the sandbox, so the *resolved* path must stay inside the repository.
    """
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise EditFailed(f"path {rel!r} must be relative and stay inside the repository")
    target = repo.joinpath(*p.parts)
    try:
        inside = target.resolve().is_relative_to(repo.resolve())
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise EditFailed(f"path {rel!r} cannot be resolved: {exc}") from None
    if not inside:
        raise EditFailed(f"path {rel!r} leads outside the repository (through a symlink)")
    return target


def rewrite(target: Path, change: Callable[[str], str], rel: str) -> None:
    """Replace the text of the regular file ``target`` by ``change(text)``, through one safe descriptor."""
    try:
        fd = os.open(target, _EDIT_FLAGS)
    except FileNotFoundError:
        raise EditFailed(f"{rel}: file does not exist") from None
    except OSError as exc:
        raise EditFailed(f"{rel}: cannot be edited ({exc.strerror}; a symlink or special file?)") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_EDIT_BYTES:
        os.close(fd)
        raise EditFailed(f"{rel}: not a regular file" if not stat.S_ISREG(st.st_mode) else
                         f"{rel}: {st.st_size} bytes, more than the {MAX_EDIT_BYTES}-byte limit for an edit")
    with os.fdopen(fd, "r+b") as f:
        try:
            text = f.read(MAX_EDIT_BYTES + 1).decode("utf-8")
        except UnicodeDecodeError:
            raise EditFailed(f"{rel}: not UTF-8 text") from None
        new = change(text).encode("utf-8")
        f.seek(0)
        f.write(new)
        f.truncate()


def insert_comment(source: str, comment: PressureComment, *, top_if_unanchored: bool = False) -> str:
    """Insert ``comment.text`` above the first line matching its anchor, indented like that line (at the
    top of the file when no line matches and ``top_if_unanchored``, else ``EditFailed``)."""
    lines = source.splitlines(keepends=True)
    index = 0
    indent = ""
    if comment.anchor:
        rx = compile_anchor(comment.anchor)
        for i, line in enumerate(lines):
            if rx.search(line):
                index = i
                indent = line[: len(line) - len(line.lstrip())]
                break
        else:
            if not top_if_unanchored:
                raise EditFailed(f"anchor {comment.anchor!r} matches no line of {comment.file}")
    block = "".join(indent + t + "\n" if t.strip() else "\n" for t in comment.text.rstrip("\n").split("\n"))
    return "".join(lines[:index]) + block + "".join(lines[index:])


def apply_pressure(repo: Path, comments: Iterable[PressureComment], *, create: bool = False,
                   lenient: bool = False) -> list[str]:
    """Insert each comment; with ``create``, an anchorless one whose file does not exist creates it
    (exclusively and no-follow, so nothing the agent put there is overwritten or followed).

    ``lenient`` is for pressure placed at a later onset, on a tree the agent has already changed: a
    comment whose anchor line the agent removed goes to the top of its file, and one whose file the
    agent removed or made unusable is skipped. Returns what was not placed as planned, so the caller
    can record it; without ``lenient`` these raise ``EditFailed`` (the template is the pack's own)."""
    notes: list[str] = []
    for c in comments:
        if lenient:
            try:
                apply_pressure(repo, [c], create=create)
            except EditFailed as exc:
                try:
                    rewrite(safe_path(repo, c.file),
                            lambda text, c=c: insert_comment(text, c, top_if_unanchored=True), c.file)
                    notes.append(f"{c.file}: placed at the top ({exc})")
                except EditFailed as again:
                    notes.append(f"{c.file}: not placed ({again})")
            continue
        target = safe_path(repo, c.file)
        if create and c.anchor is None and not os.path.lexists(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise EditFailed(f"{c.file}: cannot be created ({exc.strerror})") from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(c.text.rstrip("\n") + "\n")
            continue
        rewrite(target, lambda text, c=c: insert_comment(text, c), c.file)
    return notes


def apply_ops(repo: Path, ops: Iterable[WriteOp | EditOp]) -> list[str]:
    """Apply reference ops in order; return the touched paths. Raises ``EditFailed``."""
    touched = []
    for op in ops:
        target = safe_path(repo, op.path)
        if isinstance(op, WriteOp):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(op.content, encoding="utf-8")
        else:
            rewrite(target, lambda text, op=op: _replace_once(text, op), f"edit of {op.path}")
        touched.append(op.path)
    return touched


def _replace_once(text: str, op: EditOp) -> str:
    count = text.count(op.old)
    if count != 1:
        raise EditFailed(f"edit of {op.path}: 'old' text occurs {count} times (must be exactly once)")
    return text.replace(op.old, op.new, 1)
