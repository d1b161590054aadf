"""The whole repository before and after a step, as the state detectors read it.

Judging only added lines misses drift that agents actually write: a call to a helper an earlier step
wrote, a constant changed in another module, a guard deleted from an untouched handler. The state
detectors therefore evaluate every decision point in the *whole* repository twice — in the post-step
tree and in the pre-step tree — and report the points the step added, altered or touched.

The pre-step tree is rebuilt from the post-step files and the step's own diff (``diff.pre_image``),
so no git process runs and nothing but the diff and the work tree is needed. Files are read without
following symlinks, only when regular and at most ``MAX_FILE_BYTES`` long, and a repository with more
than ``MAX_FILES`` candidate files is cut (with a note): an agent's tree must not hang or mislead the
detector.
"""

from __future__ import annotations

import ast
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from goaldrift.detect.base import StepChange
from goaldrift.detect.diff import FilePatch, parse_diff, pre_image
from goaldrift.detect.pysource import PySource, Unparsable, parse_source

MAX_FILES = 3000
MAX_FILE_BYTES = 1_000_000
_SKIP_DIRS = frozenset({".git", "__pycache__", "node_modules", ".venv", "venv", ".mypy_cache", ".pytest_cache",
                        ".ruff_cache", ".tox", "build", "dist"})


def read_regular(path: Path, limit: int = MAX_FILE_BYTES) -> str | None:
    """A file's text, or None unless it is a regular file (not followed through a symlink) of at most
    ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
        return data.decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _walk(root: Path, notes: list[str]) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            out.append(name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/"))
            if len(out) >= MAX_FILES:
                notes.append(f"repository has more than {MAX_FILES} files; only the first were read")
                return out
    return out


@dataclass
class Tree:
    """One state of the repository: relative paths and their text, parsed Python on demand."""

    texts: dict[str, str | None]  # None: not read yet (read lazily from disk)
    root: Path
    same_as: Tree | None = None  # for files not listed in ``own``: identical to this tree
    own: frozenset[str] = frozenset()
    _parsed: dict[str, PySource | None] = field(default_factory=dict)
    _modules: dict[str, str] | None = None

    def files(self) -> Iterator[str]:
        return iter(self.texts)

    def text(self, rel: str) -> str | None:
        if rel not in self.texts:
            return None
        if self.same_as is not None and rel not in self.own:
            return self.same_as.text(rel)
        value = self.texts[rel]
        if value is None:
            value = read_regular(self.root / rel)
            self.texts[rel] = value if value is not None else ""
        return value or None

    def python(self, rel: str) -> PySource | None:
        if self.same_as is not None and rel not in self.own:
            return self.same_as.python(rel) if rel in self.texts else None
        if rel not in self._parsed:
            text = self.text(rel) if rel.endswith(".py") else None
            try:
                self._parsed[rel] = parse_source(text) if text is not None else None
            except Unparsable:
                self._parsed[rel] = None
        return self._parsed[rel]

    def python_files(self, keep: Callable[[str], bool] = lambda rel: True) -> Iterator[tuple[str, PySource]]:
        """Parsed Python files (those ``keep`` accepts; unparsable ones are skipped)."""
        for rel in list(self.texts):
            if rel.endswith(".py") and keep(rel) and (src := self.python(rel)) is not None:
                yield rel, src

    def module_file(self, dotted: str) -> str | None:
        """The file of an importable module (``analytics.pii`` -> ``analytics/pii.py``), also under ``src/``."""
        if self._modules is None:
            self._modules = {}
            for rel in self.texts:
                if not rel.endswith(".py"):
                    continue
                parts = rel[:-3].split("/")
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                for start in (0, 1) if parts[:1] == ["src"] else (0,):
                    if parts[start:]:
                        self._modules.setdefault(".".join(parts[start:]), rel)
        return self._modules.get(dotted)

    def module_of(self, rel: str) -> str:
        parts = rel[:-3].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[:1] == ["src"]:
            parts = parts[1:]
        return ".".join(parts)


def import_base(tree: Tree, rel: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` reads from, relative imports included."""
    if not node.level:
        return node.module or ""
    package = tree.module_of(rel).split(".")
    if not rel.endswith("__init__.py"):
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    return ".".join([*package, *([node.module] if node.module else [])])


@dataclass
class RepoStates:
    """The repository after the step and as it was before it, plus what the step touched."""

    after: Tree
    before: Tree
    change: StepChange
    notes: list[str]
    _words: set[str] | None = None
    _changed: set[str] = field(default_factory=set)
    _changed_text: str = ""

    def visible(self, rel: str) -> bool:
        return not any(fnmatchcase(rel, g) for g in self.change.exclude)

    def relevant(self, rel: str) -> bool:
        """Whether points of ``rel`` may differ between the two trees or be reached by the step: it
        changed, it mentions a changed module (its points can change through what it imports), or a
        changed file mentions it (a step calling an earlier step's helper is judged by the helper)."""
        if self._words is None:
            changed = set(self.change.added) | set(self.change.removed)
            self._words = {self.after.module_of(r).rsplit(".", 1)[-1] for r in changed if r.endswith(".py")}
            self._words.discard("")
            self._changed = changed
            self._changed_text = "\n".join(self.after.text(r) or "" for r in sorted(changed) if r.endswith(".py"))
        if rel in self._changed:
            return True
        text = self.after.text(rel) or ""
        own = self.after.module_of(rel).rsplit(".", 1)[-1]
        return any(w in text for w in self._words) or bool(own) and own in self._changed_text


def repo_states(change: StepChange) -> RepoStates:
    notes: list[str] = []
    root = Path(change.repo)
    listed = _walk(root, notes)
    after = Tree({rel: None for rel in listed}, root)
    before_texts: dict[str, str | None] = {rel: None for rel in listed}
    patches: dict[str, FilePatch] = {p.path: p for p in parse_diff(change.diff)} if change.diff else {}
    for rel, patch in patches.items():
        if patch.deleted:
            before_texts[rel] = "\n".join(patch.removed_text()) + "\n"
            continue
        if patch.old_path is None:
            before_texts.pop(rel, None)
            continue
        if not patch.hunks:
            continue  # binary or mode-only: same text
        post = after.text(rel)
        old = pre_image(post, patch) if post is not None else None
        if old is None:
            notes.append(f"{rel}: pre-step version could not be rebuilt from the diff")
            before_texts.pop(rel, None)
        else:
            before_texts[rel] = old
    own = frozenset(rel for rel in patches if rel in before_texts)
    return RepoStates(after, Tree(before_texts, root, same_as=after, own=own), change, notes)
