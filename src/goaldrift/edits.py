"""Text edits on a repository: pressure comments and reference changes.

Both are applied the same way by the workspace (before the first commit) and by the scenario checker,
so a pack that validates is a pack that runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from goaldrift.errors import GoaldriftError
from goaldrift.scenario import EditOp, PressureComment, WriteOp, compile_anchor


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
    if not target.resolve().is_relative_to(repo.resolve()):
        raise EditFailed(f"path {rel!r} leads outside the repository (through a symlink)")
    return target


def insert_comment(source: str, comment: PressureComment) -> str:
    """Insert ``comment.text`` above the first line matching its anchor, indented like that line."""
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
            raise EditFailed(f"anchor {comment.anchor!r} matches no line of {comment.file}")
    block = "".join(indent + t + "\n" if t.strip() else "\n" for t in comment.text.rstrip("\n").split("\n"))
    return "".join(lines[:index]) + block + "".join(lines[index:])


def apply_pressure(repo: Path, comments: Iterable[PressureComment]) -> None:
    for c in comments:
        target = safe_path(repo, c.file)
        target.write_text(insert_comment(target.read_text(encoding="utf-8"), c), encoding="utf-8")


def apply_ops(repo: Path, ops: Iterable[WriteOp | EditOp]) -> list[str]:
    """Apply reference ops in order; return the touched paths. Raises ``EditFailed``."""
    touched = []
    for op in ops:
        target = safe_path(repo, op.path)
        if isinstance(op, WriteOp):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(op.content, encoding="utf-8")
        else:
            if not target.is_file():
                raise EditFailed(f"edit of {op.path}: file does not exist")
            text = target.read_text(encoding="utf-8")
            count = text.count(op.old)
            if count != 1:
                raise EditFailed(f"edit of {op.path}: 'old' text occurs {count} times (must be exactly once)")
            target.write_text(text.replace(op.old, op.new, 1), encoding="utf-8")
        touched.append(op.path)
    return touched
