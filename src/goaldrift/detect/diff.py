"""Parse a step's unified git diff into the lines it added and removed.

Detectors only judge what a step changed, so line numbers must agree exactly with the post-step file
git wrote. The parser therefore follows git's own output (``git diff --no-color -U3 --no-renames``):
hunk bodies are consumed by the counts in their ``@@`` header (a removed line ``-- x`` shows as
``--- x`` and must not start a new file), paths come from ``---``/``+++`` lines or, when a file has
none (binary, mode-only, empty new file), from the ``diff --git`` header; C-quoted paths
(``"a/caf\\303\\251.py"``) are unquoted, and the tab git appends to paths containing spaces is
dropped. Plain ``diff -u`` output (no ``diff --git`` lines) is accepted too.

Besides ``StepChange`` this module can rebuild a changed file's pre-step text from its post-step text
and hunks (``pre_image``): the handler detector uses it to find which function lost a guard call.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path

from goaldrift.detect.base import StepChange

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_DEV_NULL = "/dev/null"
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` block. ``lines`` keep their one-character prefix (`` ``, ``-`` or ``+``)."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: tuple[str, ...]
    old_missing_newline: bool = False  # "\ No newline at end of file" after a pre-image line

    def numbered(self) -> list[tuple[str, int, int, str]]:
        """(prefix, old line number, new line number, text) for every line of the hunk.

        For a removed line the new number is the post-image line the removal sits before; for an
        added line the old number is the pre-image line it sits before.
        """
        old = self.old_start if self.old_len else self.old_start + 1
        new = self.new_start if self.new_len else self.new_start + 1
        out = []
        for raw in self.lines:
            prefix, text = raw[:1] or " ", raw[1:]
            out.append((prefix, old, new, text))
            if prefix != "+":
                old += 1
            if prefix != "-":
                new += 1
        return out


@dataclass(frozen=True)
class FilePatch:
    """The diff of one file. ``old_path`` is None for a new file, ``new_path`` for a deleted one."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...] = ()
    binary: bool = False

    @property
    def path(self) -> str:
        """The post-step path, or the pre-step path of a deleted file."""
        return self.new_path or self.old_path or ""

    @property
    def deleted(self) -> bool:
        return self.new_path is None

    def added_lines(self) -> frozenset[int]:
        return frozenset(new for p, _, new, _ in self._numbered() if p == "+")

    def removed_lines(self) -> frozenset[int]:
        """Pre-image line numbers of the removed lines."""
        return frozenset(old for p, old, _, _ in self._numbered() if p == "-")

    def removed_text(self) -> tuple[str, ...]:
        return tuple(text for p, _, _, text in self._numbered() if p == "-")

    def _numbered(self) -> list[tuple[str, int, int, str]]:
        return [row for h in self.hunks for row in h.numbered()]


@dataclass
class _Building:
    """A file patch under construction while the parser walks the diff."""

    header_old: str | None = None
    header_new: str | None = None
    old: str | None = None
    new: str | None = None
    saw_minus: bool = False
    saw_plus: bool = False
    new_file: bool = False
    deleted_file: bool = False
    binary: bool = False
    hunks: list[Hunk] = field(default_factory=list)

    def finish(self) -> FilePatch | None:
        old = self.old if self.saw_minus else self.header_old
        new = self.new if self.saw_plus else self.header_new
        if self.new_file:
            old = None
        if self.deleted_file:
            new = None
        if old is None and new is None:
            return None
        return FilePatch(old, new, tuple(self.hunks), self.binary)


def unquote_path(raw: str) -> str:
    """Undo git's C-style quoting of a path (``core.quotePath``); unquoted input is returned as is."""
    if len(raw) < 2 or not (raw.startswith('"') and raw.endswith('"')):
        return raw
    body, out, i = raw[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 == len(body):
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in "01234567":
            j = i + 1
            while j < len(body) and j < i + 4 and body[j] in "01234567":
                j += 1
            out.append(int(body[i + 1 : j], 8) & 0xFF)
            i = j
        else:
            out.append(_ESCAPES.get(nxt, ord(nxt)))
            i += 2
    return out.decode("utf-8", errors="replace")


def _strip_prefix(path: str, prefix: str) -> str:
    return path.removeprefix(prefix)


def _file_line_path(rest: str, prefix: str) -> str | None:
    """Path from a ``---``/``+++`` line (after the marker); None for /dev/null."""
    if rest.startswith('"'):
        end = _quoted_end(rest)
        path = unquote_path(rest[: end + 1])
    else:
        path = rest.split("\t", 1)[0]  # git adds a tab after names with spaces; diff -u a timestamp
    if path == _DEV_NULL:
        return None
    return _strip_prefix(path, prefix)


def _quoted_end(s: str) -> int:
    """Index of the closing quote of the C-quoted string starting at s[0]."""
    i = 1
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == '"':
            return i
        i += 1
    return len(s) - 1


def _header_paths(rest: str) -> tuple[str | None, str | None]:
    """The two paths of a ``diff --git a/X b/Y`` header (ambiguous when unquoted with spaces)."""
    if rest.startswith('"'):
        end = _quoted_end(rest)
        a, tail = unquote_path(rest[: end + 1]), rest[end + 1 :].lstrip(" ")
        b = unquote_path(tail) if tail.startswith('"') else tail
        return _strip_prefix(a, "a/"), _strip_prefix(b, "b/")
    if rest.endswith('"'):
        start = rest.rfind(' "')
        return _strip_prefix(rest[:start], "a/"), _strip_prefix(unquote_path(rest[start + 1 :]), "b/")
    # Without renames both names are equal: "a/P b/P" -> split in the middle.
    n = len(rest)
    if n % 2 == 1:
        half = (n - 1) // 2
        a, b = rest[:half], rest[half + 1 :]
        if a.startswith("a/") and b.startswith("b/") and a[2:] == b[2:]:
            return a[2:], b[2:]
    cut = rest.rfind(" b/")
    if cut > 0:
        return _strip_prefix(rest[:cut], "a/"), rest[cut + 3 :]
    return rest, rest


def parse_diff(diff: str) -> list[FilePatch]:
    """Parse unified diff text into one ``FilePatch`` per file, in diff order."""
    patches: list[FilePatch] = []
    cur: _Building | None = None
    lines = diff.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0

    def close() -> None:
        if cur is not None and (p := cur.finish()) is not None:
            patches.append(p)

    while i < len(lines):
        line = lines[i].rstrip("\r")
        if line.startswith("diff --git "):
            close()
            cur = _Building()
            cur.header_old, cur.header_new = _header_paths(line[len("diff --git ") :])
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            if cur is None or cur.hunks or cur.saw_minus:
                close()  # plain `diff -u` output: a new file starts at its --- line
                cur = _Building()
            cur.old, cur.saw_minus = _file_line_path(line[4:], "a/"), True
            cur.new, cur.saw_plus = _file_line_path(lines[i + 1].rstrip("\r")[4:], "b/"), True
            i += 1
        elif cur is not None and (m := _HUNK.match(line)):
            old_len = int(m.group(2)) if m.group(2) is not None else 1
            new_len = int(m.group(4)) if m.group(4) is not None else 1
            body, need_old, need_new, old_nonl = [], old_len, new_len, False
            while i + 1 < len(lines):
                raw = lines[i + 1].rstrip("\r")
                if raw.startswith("\\"):  # "\ No newline at end of file" for the line before it
                    old_nonl = old_nonl or (bool(body) and body[-1][:1] in (" ", "-"))
                    i += 1
                    continue
                if need_old <= 0 and need_new <= 0:
                    break
                prefix = raw[:1]
                if prefix == "-":
                    need_old -= 1
                elif prefix == "+":
                    need_new -= 1
                elif prefix in (" ", ""):
                    need_old -= 1
                    need_new -= 1
                else:
                    break  # truncated hunk: stop rather than swallow the next header
                body.append(raw if raw else " ")
                i += 1
            hunk = Hunk(int(m.group(1)), old_len, int(m.group(3)), new_len, tuple(body), old_nonl)
            cur.hunks.append(hunk)
        elif cur is not None:
            if line.startswith("new file mode"):
                cur.new_file = True
            elif line.startswith("deleted file mode"):
                cur.deleted_file = True
            elif line.startswith(("rename from ", "copy from ")):
                cur.header_old = unquote_path(line.split(" from ", 1)[1])
            elif line.startswith(("rename to ", "copy to ")):
                cur.header_new = unquote_path(line.split(" to ", 1)[1])
            elif line.startswith("Binary files ") or line == "GIT binary patch":
                cur.binary = True
        i += 1
    close()
    return patches


def change_from_patches(repo: Path, diff: str, patches: list[FilePatch]) -> StepChange:
    added: dict[str, frozenset[int]] = {}
    removed: dict[str, tuple[str, ...]] = {}
    for p in patches:
        if p.deleted:
            removed[p.path] = p.removed_text()
            continue
        added[p.path] = added.get(p.path, frozenset()) | p.added_lines()
        gone = p.removed_text()
        if gone:
            removed[p.path] = removed.get(p.path, ()) + gone
    return StepChange(repo=Path(repo), diff=diff, added=added, removed=removed)


def change_from_diff(repo: Path, diff: str) -> StepChange:
    """The ``StepChange`` of a step: ``repo`` is the post-step checkout, ``diff`` its git diff.

    Every file with a post-step version is a key of ``added`` (possibly with no lines: binary or
    mode-only changes); files with removed lines, and every deleted file, are keys of ``removed``.
    """
    return change_from_patches(repo, diff, parse_diff(diff))


def pre_image(post_text: str, patch: FilePatch) -> str | None:
    """Rebuild the pre-step text of a modified file, or None when the hunks do not fit the text.

    Hunks are undone from the last to the first so earlier line numbers stay valid; every context
    and added line is checked against the post-step text, so a diff that does not belong to this
    file is refused rather than producing a wrong pre-image.
    """
    if patch.binary or patch.new_path is None:
        return None
    if patch.old_path is None:
        return ""
    lines = post_text.split("\n")
    if post_text.endswith("\n"):
        lines.pop()
    for h in reversed(patch.hunks):
        start = h.new_start if h.new_len == 0 else h.new_start - 1
        expect_new = [raw[1:] for raw in h.lines if raw[:1] != "-"]
        got = [ln.rstrip("\r") for ln in lines[start : start + h.new_len]]
        if len(expect_new) != h.new_len or [ln.rstrip("\r") for ln in expect_new] != got:
            return None
        lines[start : start + h.new_len] = [raw[1:] for raw in h.lines if raw[:1] != "+"]
    if not lines:
        return ""
    final_newline = not any(h.old_missing_newline for h in patch.hunks) and (
        bool(patch.hunks) or post_text.endswith("\n")
    )
    return "\n".join(lines) + ("\n" if final_newline else "")


class LineSet:
    """Sorted line numbers with a fast "does [start, end] touch any of them" test."""

    __slots__ = ("_set", "_sorted")

    def __init__(self, lines: frozenset[int] | set[int]):
        self._set = frozenset(lines)
        self._sorted = sorted(self._set)

    def __contains__(self, line: object) -> bool:
        return line in self._set

    def __bool__(self) -> bool:
        return bool(self._set)

    def touches(self, start: int, end: int | None = None) -> bool:
        end = start if end is None else end
        i = bisect_left(self._sorted, start)
        return i < len(self._sorted) and self._sorted[i] <= end
