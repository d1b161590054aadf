"""Where a repository calls a given function: the call sites that decide a wrapper's parameter.

Matching is by import, not by name alone (every export module has a ``build``): a bare call in the
defining file, a call through ``from module import f [as g]``, ``module.f(...)`` after ``import
module`` / ``from package import module``, ``self.f(...)`` inside the defining class, and
``Class(...)`` for a class's ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from weakref import WeakKeyDictionary

from goaldrift.detect.pysource import PySource, statements, walk_nodes
from goaldrift.detect.repo import Tree, import_base

_IMPORTS: WeakKeyDictionary[PySource, list[ast.Import | ast.ImportFrom]] = WeakKeyDictionary()


def _import_statements(src: PySource) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a parsed file, in source order, listed once (see ``walk_nodes``)."""
    found = _IMPORTS.get(src)
    if found is None:
        found = _IMPORTS[src] = [n for n in statements(src.tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    return found


def _local_names(tree: Tree, rel: str, src: PySource, module: str, name: str) -> tuple[set[str], set[str]]:
    """(names that call the target directly, names of the target's module) in file ``rel``."""
    direct: set[str] = set()
    modules: set[str] = set()
    parent, _, leaf = module.rpartition(".")
    for node in _import_statements(src):
        if isinstance(node, ast.ImportFrom):
            base = import_base(tree, rel, node)
            for a in node.names:
                if base == module and a.name == name:
                    direct.add(a.asname or a.name)
                elif base == parent and a.name == leaf:
                    modules.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == module:
                    modules.add(a.asname or a.name)
    return direct, modules


def calls_to(tree: Tree, rel: str, target: ast.AST, name: str | None = None,
             visible=lambda rel: True) -> Iterator[tuple[str, PySource, ast.Call]]:
    """Calls of function/class ``target`` (defined in ``rel``), or of a module-level ``name`` there."""
    src_def = tree.python(rel)
    if src_def is None:
        return
    name = name or target.name  # type: ignore[attr-defined]
    module = tree.module_of(rel)
    cls = None
    if name == "__init__":
        cls = next((a for a in src_def.ancestors(target) if isinstance(a, ast.ClassDef)), None)
        if cls is None:
            return
        name = cls.name
    method_of = next((a for a in src_def.ancestors(target) if isinstance(a, ast.ClassDef)), None) \
        if cls is None and target is not None else None
    for other_rel, src in tree.python_files():
        if not visible(other_rel):
            continue
        if name not in src.text:
            continue
        if other_rel == rel:
            direct, modules = ({name} if method_of is None else set()), set()
        else:
            direct, modules = _local_names(tree, other_rel, src, module, name)
        for node in walk_nodes(src, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in direct:
                yield other_rel, src, node
            elif isinstance(f, ast.Attribute) and f.attr == name and isinstance(f.value, ast.Name):
                via_module = f.value.id in modules
                via_self = method_of is not None and other_rel == rel and f.value.id in ("self", "cls")
                if via_module or via_self:
                    yield other_rel, src, node
