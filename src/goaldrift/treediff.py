"""The diff between two of goaldrift's trees, computed in-process, in ``git diff-tree -p`` format.

Every step needs the patch between the previous commit and the new one. Running git for it cost a
process start, and on the host a bubblewrap sandbox and a cgroup, per step — more than everything
else the step does. goaldrift already holds both trees (it wrote them, ``goaldrift.gitobjects``)
and every blob, so it compares them itself: only paths whose blob id or mode changed are looked at,
and each changed file's lines are diffed by libgit2 (``pygit2.Patch.create_from`` on two byte
buffers: no repository, no configuration, no process). libgit2's line diff is git's own xdiff, so
hunks, their ``@@`` headers (function context included) and "no newline" markers are git's; this
module writes the file headers as git does with ``--no-renames --no-ext-diff --no-textconv
-c core.quotePath=false`` and the attributes goaldrift sets (``* !diff``: binary means a NUL byte in
the first 8,000 bytes, git's rule). A test compares the output with ``git diff-tree`` byte for byte.

Nothing here reads the work tree: blobs come from goaldrift's own object store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pygit2

from goaldrift.errors import GoaldriftError

_NULL_ID = "0" * 40
_FIRST_FEW_BYTES = 8000  # git's buffer_is_binary window
_C_ESCAPES = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 34: '"', 92: "\\"}
_FLAGS = pygit2.enums.DiffOption.FORCE_TEXT | pygit2.enums.DiffOption.INDENT_HEURISTIC

Tree = dict  # name -> Tree | (mode, object id), as ``Workspace`` keeps its last commit


class DiffTimeout(GoaldriftError):
    """The diff did not finish within its time limit; ``partial`` is what was computed."""

    def __init__(self, message: str, partial: str):
        super().__init__(message)
        self.partial = partial


def tree_diff(old: Tree, new: Tree, read: Callable[[str], bytes], *, abbrev: Callable[[str], str],
              seconds: float = 60.0) -> str:
    """The patch from tree ``old`` to tree ``new``; ``read(id)`` gives a blob's bytes and ``abbrev(id)``
    its shortest unique prefix (at least 7 characters), as git prints it on ``index`` lines.

    Raises ``DiffTimeout`` (checked between files) when the diff takes longer than ``seconds``.
    """
    deadline = time.monotonic() + seconds
    out: list[bytes] = []
    for path, before, after in _changes(old, new, b""):
        if time.monotonic() > deadline:
            raise DiffTimeout(f"diff not finished within {seconds:g} s", _text(out))
        if before and after and _kind(before[0]) != _kind(after[0]):  # a type change: git shows two patches
            out.append(_file_patch(path, before, None, read, abbrev))
            out.append(_file_patch(path, None, after, read, abbrev))
        else:
            out.append(_file_patch(path, before, after, read, abbrev))
    return _text(out)


def _text(parts: list[bytes]) -> str:
    return b"".join(parts).decode("utf-8", "replace")


def _kind(mode: str) -> str:
    return "link" if mode == "120000" else "file"


def _changes(old: Tree, new: Tree, prefix: bytes) -> Iterator[tuple[bytes, tuple | None, tuple | None]]:
    """(path, old (mode, id) or None, new (mode, id) or None) for every changed file, in git's order.

    Entries are merged in git's tree order, where a folder sorts as ``name/``; a file and a folder of
    the same name are two entries (the file removed or added, the folder's files added or removed).
    """
    def keyed(tree: Tree) -> dict[bytes, tuple[str, object]]:
        return {name.encode("utf-8", "surrogateescape") + (b"/" if isinstance(v, dict) else b""): (name, v)
                for name, v in tree.items()}

    a, b = keyed(old), keyed(new)
    for key in sorted(a.keys() | b.keys()):
        va, vb = a.get(key, (None, None))[1], b.get(key, (None, None))[1]
        if va == vb:
            continue
        if key.endswith(b"/"):
            yield from _changes(va or {}, vb or {}, prefix + key)  # type: ignore[arg-type]
        else:
            yield prefix + key, va, vb  # type: ignore[misc]


def _file_patch(path: bytes, before: tuple | None, after: tuple | None, read: Callable[[str], bytes],
                abbrev: Callable[[str], str]) -> bytes:
    old_mode, old_id = before or (None, _NULL_ID)
    new_mode, new_id = after or (None, _NULL_ID)
    a_name, b_name = _quote(b"a/" + path), _quote(b"b/" + path)
    head = [b"diff --git " + a_name + b" " + b_name]
    if before is None:
        head.append(f"new file mode {new_mode}".encode())
    elif after is None:
        head.append(f"deleted file mode {old_mode}".encode())
    elif old_mode != new_mode:
        head += [f"old mode {old_mode}".encode(), f"new mode {new_mode}".encode()]
    if old_id != new_id:
        index = f"index {abbrev(old_id) if before else '0000000'}..{abbrev(new_id) if after else '0000000'}"
        head.append((index + (f" {new_mode}" if before and after and old_mode == new_mode else "")).encode())
    head_text = b"\n".join(head) + b"\n"
    if old_id == new_id:
        return head_text  # a mode change only
    old_data = read(old_id) if before else b""
    new_data = read(new_id) if after else b""
    tab = b"\t" if b" " in path else b""
    old_label = a_name + tab if before else b"/dev/null"
    new_label = b_name + tab if after else b"/dev/null"
    if b"\0" in old_data[:_FIRST_FEW_BYTES] or b"\0" in new_data[:_FIRST_FEW_BYTES]:
        old_label, new_label = (a_name if before else b"/dev/null"), (b_name if after else b"/dev/null")
        return head_text + b"Binary files " + old_label + b" and " + new_label + b" differ\n"
    if not old_data and not new_data:
        return head_text  # an empty file added or removed: no hunks, no ---/+++ lines
    body = [head_text, b"--- " + old_label + b"\n", b"+++ " + new_label + b"\n"]
    patch = pygit2.Patch.create_from(old_data, new_data, context_lines=3, interhunk_lines=0, flag=_FLAGS)
    old_lines = old_data.split(b"\n")
    func, searched = b"", -1
    for hunk in patch.hunks:
        first = hunk.old_start - 1 if hunk.old_lines else hunk.old_start  # 0-based first line of the hunk
        func = _func_line(old_lines, first - 1, searched) or func  # kept when none since the last hunk
        searched = first - 1
        body.append(b"@@ -" + _range(hunk.old_start, hunk.old_lines) + b" +" + _range(hunk.new_start, hunk.new_lines)
                    + b" @@" + (b" " + func if func else b"") + b"\n")
        for line in hunk.lines:
            raw = line.raw_content
            if line.origin in " +-":
                body.append(line.origin.encode() + raw + (b"" if raw.endswith(b"\n") else b"\n"))
            else:  # '<', '>', '=': the end-of-file newline marker
                body.append(b"\\ No newline at end of file\n")
    return b"".join(body)


def _range(start: int, count: int) -> bytes:
    return f"{start}".encode() if count == 1 else f"{start},{count}".encode()


def _func_line(lines: list[bytes], start: int, limit: int) -> bytes | None:
    """git's default hunk-header context: the nearest pre-image line above the hunk (searching down
    to ``limit``, exclusive) that starts with an ASCII letter, ``_`` or ``$``, cut to 80 bytes and
    stripped of trailing whitespace."""
    for n in range(start, limit, -1):
        if 0 <= n < len(lines) and lines[n][:1] and (lines[n][:1].isalpha() or lines[n][:1] in b"_$"):
            return (lines[n] + b"\n")[:80].rstrip(b" \t\n\v\f\r")
    return None


def _quote(name: bytes) -> bytes:
    """git's C-style quoting of a path with ``core.quotePath=false``: control characters, ``"``,
    ``\\`` and DEL are escaped and the whole name put in quotes; bytes above 0x7f stay as they are."""
    if not any(c < 0x20 or c in (34, 92, 127) for c in name):
        return name
    out = []
    for c in name:
        if c in _C_ESCAPES:
            out.append("\\" + _C_ESCAPES[c])
        elif c < 0x20 or c == 127:
            out.append(f"\\{c:03o}")
        else:
            out.append(chr(c))
    return b'"' + "".join(out).encode("latin-1") + b'"'

