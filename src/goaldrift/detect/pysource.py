"""A parsed Python file as the AST detectors need it: tree, import aliases, names of callees.

Agents rename imports (``from x import export_records as er``) and reformat code; matching on the
syntax tree with aliases resolved is what makes the AST kinds robust where regexes are not. Parsing is
the expensive part, so ``parse_source`` memoises by text: the detectors of one step share one tree
per file (the tree is never mutated).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from weakref import WeakKeyDictionary

from goaldrift.detect.diff import LineSet

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")
_SNIPPET = 200


class Unparsable(Exception):
    """The file is not valid Python (or not text); the detectors skip it with a note."""


@dataclass(eq=False)
class PySource:
    """One parsed file. ``lines`` are split on ``\\n`` only, exactly like git numbers them."""

    text: str
    tree: ast.Module
    lines: list[str]
    imports: dict[str, tuple[str, ...]]  # local name -> the dotted name it stands for
    _parents: dict[ast.AST, ast.AST] = field(default_factory=dict, repr=False)

    def line(self, n: int) -> str:
        return self.lines[n - 1].rstrip("\r") if 0 < n <= len(self.lines) else ""

    def snippet(self, node: ast.AST) -> str:
        """The node's source on one line (whitespace collapsed), shortened for evidence."""
        start, end = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        first, last = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        if start == end:
            seg = self.line(start)[first:last]
        else:
            middle = [self.line(n) for n in range(start + 1, end)]
            seg = " ".join([self.line(start)[first:], *middle, self.line(end)[:last]])
        seg = " ".join(seg.split())
        return seg if len(seg) <= _SNIPPET else seg[: _SNIPPET - 1] + "…"

    def parent(self, node: ast.AST) -> ast.AST | None:
        """The node's parent. Found by a span-guided search from the root and remembered, because a
        full parent map of a large file costs more than the whole detection of a typical step."""
        if node is self.tree:
            return None
        found = self._parents.get(node)
        if found is None:
            self._find(node)
            found = self._parents.get(node)
        return found

    def set_parent(self, child: ast.AST, parent: ast.AST) -> None:
        """Record a parent link a caller learnt while walking (saves a later search)."""
        self._parents[child] = parent

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        while (up := self.parent(node)) is not None:
            yield up
            node = up

    def walk_touching(self, lines: LineSet) -> Iterator[ast.AST]:
        """Nodes whose span touches ``lines`` (and position-less helper nodes), in source order.

        Pruning subtrees the step did not touch keeps detection in a large file fast; the parent
        links learnt on the way make later ancestor queries (scopes of a name) free.
        """
        stack: list[ast.AST] = [self.tree]
        parents = self._parents
        while stack:
            node = stack.pop()
            children = [
                c
                for c in ast.iter_child_nodes(node)
                if not hasattr(c, "lineno") or lines.touches(_start(c)[0], _end(c)[0])
            ]
            for c in children:
                parents[c] = node  # before the yield: the caller may ask for a child's ancestors
            stack.extend(reversed(children))
            yield node

    def _find(self, target: ast.AST) -> None:
        pos = (target.lineno, target.col_offset) if hasattr(target, "lineno") else None
        stack: list[ast.AST] = [self.tree]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                self._parents[child] = node
                if child is target:
                    return
                if pos is not None and hasattr(child, "lineno") and not (_start(child) <= pos <= _end(child)):
                    continue
                stack.append(child)

    def qualname(self, fn: ast.AST) -> str:
        parts = [fn.name] if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) else []
        for a in self.ancestors(fn):
            if isinstance(a, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                parts.append(a.name)
        return ".".join(reversed(parts))

    def names_of(self, expr: ast.AST) -> list[tuple[str, ...]]:
        """The dotted names ``expr`` may stand for: as written and with its import alias resolved.

        ``ex.export_records`` with ``import analytics.exporting as ex`` gives
        ``("ex", "export_records")`` and ``("analytics", "exporting", "export_records")``. A chain on
        a non-name (``get_client().send``) gives only its attribute tail, ``("send",)``.
        """
        parts: list[str] = []
        node = expr
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return [tuple(reversed(parts))] if parts else []
        written = (node.id, *reversed(parts))
        target = self.imports.get(node.id)
        if target is None or target == (node.id,):
            return [written]
        return [written, (*target, *reversed(parts))]


class NameSet:
    """Dotted names from params (``get_secret``, ``os.environ.get``) matched by their tail.

    ``os.environ.get`` matches ``os.environ.get`` and ``environ.get`` only if written that way after
    ``from os import environ`` (the alias resolves to ``os.environ.get``); a bare ``get`` does not.
    """

    def __init__(self, names: Iterable[str]):
        self.names = tuple(tuple(n.split(".")) for n in names if n)
        self.tails = frozenset(n[-1] for n in self.names)

    def match(self, src: PySource, expr: ast.AST) -> tuple[str, ...] | None:
        """The param name ``expr`` matches, or None."""
        if isinstance(expr, ast.Name) and expr.id not in self.tails and expr.id not in src.imports:
            return None  # fast path: most calls are to unrelated bare names
        if isinstance(expr, ast.Attribute) and expr.attr not in self.tails:
            return None
        for candidate in src.names_of(expr):
            for name in self.names:
                if len(candidate) >= len(name) and candidate[-len(name) :] == name:
                    return name
        return None

    def words(self, src: PySource | None = None) -> set[str]:
        """Identifiers that must appear in text that calls one of these names (a cheap prefilter)."""
        out = set(self.tails)
        if src is not None:
            for local, target in src.imports.items():
                if any(target[-len(n) :] == n for n in self.names if len(n) <= len(target)):
                    out.add(local)
        return out


def callee(call: ast.Call | ast.expr) -> ast.expr:
    """The expression a call or a decorator names: ``@route("/x")`` and ``@route`` both give ``route``."""
    return call.func if isinstance(call, ast.Call) else call


def statements(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every statement at any depth, in source order, without visiting expressions (fast)."""
    stack = list(reversed(getattr(tree, "body", [])))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            yield node
        for name in _BLOCKS:
            block = getattr(node, name, None)
            if block:
                stack.extend(reversed(block))


def span(node: ast.AST) -> tuple[int, int]:
    """First and last line of the node's source, decorators included."""
    return _start(node)[0], _end(node)[0]


def _start(node: ast.AST) -> tuple[int, int]:
    """Where the node's source begins; decorators belong to their function or class."""
    decorators = getattr(node, "decorator_list", None)
    if decorators:
        return decorators[0].lineno, decorators[0].col_offset
    return node.lineno, node.col_offset  # type: ignore[attr-defined]


def _end(node: ast.AST) -> tuple[int, int]:
    return node.end_lineno or node.lineno, node.end_col_offset or 0  # type: ignore[attr-defined]


def _imports(tree: ast.Module) -> dict[str, tuple[str, ...]]:
    """Every import in the file, at any depth (function-level imports are common in agent code)."""
    out: dict[str, tuple[str, ...]] = {}
    for node in statements(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    out[a.asname] = tuple(a.name.split("."))
                else:
                    root = a.name.split(".")[0]
                    out[root] = (root,)
        elif isinstance(node, ast.ImportFrom):
            base = tuple(p for p in (node.module or "").split(".") if p)
            for a in node.names:
                if a.name != "*":
                    out[a.asname or a.name] = (*base, a.name)
    return out


@lru_cache(maxsize=64)
def _parse_cached(text: str) -> PySource | str:
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        return f"SyntaxError at line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return PySource(text=text, tree=tree, lines=text.split("\n"), imports=_imports(tree))


def parse_source(text: str) -> PySource:
    """Parse ``text`` (memoised); raise ``Unparsable`` with the reason when it is not Python."""
    result = _parse_cached(text)
    if isinstance(result, str):
        raise Unparsable(result)
    return result


_WALKED: WeakKeyDictionary[PySource, dict[tuple, tuple[ast.AST, list]]] = WeakKeyDictionary()


def walk_nodes(src: PySource, types: type | tuple[type, ...], root: ast.AST | None = None) -> list:
    """The nodes of ``types`` below ``root`` (default: the whole file), in ``ast.walk`` order.

    Detectors ask the same question of the same unchanged file many times per step and again every
    step; a parsed file is memoised by text and never mutated, so each answer is listed once and kept
    as long as the file's ``PySource`` lives (keyed by the root's identity, checked on every hit).
    """
    start = src.tree if root is None else root
    per_file = _WALKED.setdefault(src, {})
    key = (id(start), types)
    hit = per_file.get(key)
    if hit is None or hit[0] is not start:
        hit = per_file[key] = (start, [n for n in ast.walk(start) if isinstance(n, types)])
    return hit[1]


def is_python(rel: str) -> bool:
    return rel.endswith(".py")
