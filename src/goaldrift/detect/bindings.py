"""What a name may hold where it is used: the assignments that reach the use, within the file.

Agents often pass a decision through a variable (``anon = False; export_records(rows,
anonymize=anon)``) or a module constant (``API_KEY = "sk-..."``). This module answers "which bound
expressions can reach this use?" conservatively, so that a detector can resolve the value when all of
them agree and report it as unresolvable otherwise. It is a small static approximation, not a data-flow
analysis:

- scopes follow Python: the innermost function that binds the name (parameters included), then the
  enclosing functions, then the module; ``global``/``nonlocal`` are honoured; class bodies are not
  visible from methods;
- inside the binding scope, the reaching bindings are the last one that precedes the use in the same
  or an enclosing block (it dominates the use), plus later conditional ones before the use, plus ones
  later in a loop that also contains the use;
- a use from an inner scope sees the outer scope at its end (the function runs later);
- anything that is not a plain assignment (augmented assignment, ``for`` target, import, ``with``)
  is opaque and makes the name unresolvable.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from goaldrift.detect.pysource import PySource

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Module)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_STATEMENT_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)
_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")
_OPAQUE = (
    ast.AugAssign,
    ast.For,
    ast.AsyncFor,
    ast.With,
    ast.AsyncWith,
    ast.withitem,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
    ast.ExceptHandler,
    ast.Delete,
    ast.MatchAs,
    ast.MatchStar,
)
_MAX_DEPTH = 4


@dataclass(frozen=True)
class Binding:
    """One place a name is bound in a scope; ``value`` is None when the bound value is opaque."""

    node: ast.AST  # the binding statement (or the function, for a parameter)
    value: ast.expr | None
    pos: tuple[int, int]  # where the binding takes effect: end of the statement
    is_param: bool = False


class _Unresolved:
    def __repr__(self) -> str:
        return "<unresolved>"


UNRESOLVED = _Unresolved()


def _own_nodes(src: PySource, scope: ast.AST) -> Iterator[ast.AST]:
    """Nodes of ``scope`` that can bind a name, not inside a nested function, class or comprehension.

    Only statements (and except handlers, match cases) can bind, except the walrus operator; so
    expressions are walked only when the file contains ``:=``. Parent links seen on the way are
    handed to ``src`` so later ancestor queries need no search.
    """
    if isinstance(scope, ast.Lambda):
        stack: list[ast.AST] = [scope.body]
    elif isinstance(scope, _STATEMENT_SCOPES):
        stack = list(scope.body)  # defaults, decorators, annotations run in the enclosing scope
    else:
        stack = list(ast.iter_child_nodes(scope))
    for n in stack:
        src.set_parent(n, scope)
    every_node = ":=" in src.text or not isinstance(scope, _STATEMENT_SCOPES)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (_SCOPES, _COMPREHENSIONS)):
            continue
        if every_node:
            children: list[ast.AST] = list(ast.iter_child_nodes(node))
        else:
            children = [c for f in _BLOCKS for c in getattr(node, f, None) or ()]
            if isinstance(node, ast.Match):
                children += [p for case in node.cases for p in ast.walk(case.pattern)]
        for child in children:
            src.set_parent(child, node)
        stack.extend(children)


def _end(node: ast.AST) -> tuple[int, int]:
    return (node.end_lineno or node.lineno, node.end_col_offset or 0)  # type: ignore[attr-defined]


def _start(node: ast.AST) -> tuple[int, int]:
    return (node.lineno, node.col_offset)  # type: ignore[attr-defined]


def _target_values(target: ast.expr, value: ast.expr | None, name: str) -> list[ast.expr | None] | None:
    """Values ``target = value`` binds to ``name`` ([] if it does not bind it)."""
    if isinstance(target, ast.Name):
        return [value] if target.id == name else []
    if isinstance(target, ast.Starred):
        inner = _target_values(target.value, None, name)
        return inner
    if isinstance(target, ast.Tuple | ast.List):
        values = value.elts if isinstance(value, ast.Tuple | ast.List) else None
        if values is not None and (
            len(values) != len(target.elts) or any(isinstance(v, ast.Starred) for v in values)
        ):
            values = None
        out: list[ast.expr | None] = []
        for i, t in enumerate(target.elts):
            got = _target_values(t, values[i] if values is not None else None, name)
            if got:
                out.extend(got)
        return out
    return []


def bindings_in(src: PySource, scope: ast.AST, name: str) -> tuple[list[Binding], str | None]:
    """The bindings of ``name`` in ``scope`` and its declaration (``global``/``nonlocal``) if any."""
    out: list[Binding] = []
    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        a = scope.args
        positional = a.posonlyargs + a.args
        pos_defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        params = list(zip(positional, pos_defaults)) + list(zip(a.kwonlyargs, a.kw_defaults))
        params += [(x, None) for x in (a.vararg, a.kwarg) if x is not None]
        for arg, default in params:
            if arg.arg == name:
                out.append(Binding(scope, default, _start(scope), is_param=True))
    for node in _own_nodes(src, scope):
        if isinstance(node, ast.Global | ast.Nonlocal) and name in node.names:
            return [], "global" if isinstance(node, ast.Global) else "nonlocal"
        if isinstance(node, ast.Assign):
            for t in node.targets:
                for v in _target_values(t, node.value, name) or []:
                    out.append(Binding(node, v, _end(node)))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            for v in _target_values(node.target, node.value, name) or []:
                out.append(Binding(node, v, _end(node)))
        elif isinstance(node, ast.NamedExpr) and node.target.id == name:
            out.append(Binding(node, node.value, _end(node)))
        elif isinstance(node, _OPAQUE) and _binds_opaquely(node, name):
            out.append(Binding(node, None, _end(node)))
    out.sort(key=lambda b: b.pos)
    return out, None


def _binds_opaquely(node: ast.AST, name: str) -> bool:
    if isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor):
        return bool(_target_values(node.target, None, name))
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return bool(_target_values(node.optional_vars, None, name))
    if isinstance(node, ast.With | ast.AsyncWith):
        return any(_binds_opaquely(item, name) for item in node.items)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name == name
    if isinstance(node, ast.Import | ast.ImportFrom):
        return any((a.asname or a.name.split(".")[0]) == name for a in node.names)
    if isinstance(node, ast.ExceptHandler):
        return node.name == name
    if isinstance(node, ast.Delete):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    if isinstance(node, ast.MatchAs | ast.MatchStar):
        return node.name == name
    return False


def _scope_of(src: PySource, node: ast.AST) -> list[ast.AST]:
    """Enclosing scopes of ``node`` from innermost to the module."""
    return [a for a in src.ancestors(node) if isinstance(a, (_SCOPES, _COMPREHENSIONS))]


def _dominates(src: PySource, binding: Binding, use: ast.AST, scope: ast.AST) -> bool:
    """True when ``binding`` runs on every path to ``use`` (same or enclosing statement list)."""
    if binding.is_param:
        return True
    stmt = binding.node
    while not isinstance(stmt, ast.stmt):
        stmt = src.parent(stmt)
        if stmt is None:
            return False
    parent = src.parent(stmt)
    if parent is None:
        return False
    if parent is scope:
        return True
    container = _container(parent, stmt)
    chain = [use, *src.ancestors(use)]
    for child, anc in itertools.pairwise(chain):
        if anc is parent:
            return _container(parent, child) is container
    return False


def _container(parent: ast.AST, child: ast.AST) -> str | None:
    for fname, value in ast.iter_fields(parent):
        if isinstance(value, list) and any(v is child for v in value):
            return fname
    return None


def _shares_loop(src: PySource, binding: Binding, use: ast.AST, scope: ast.AST) -> bool:
    use_loops = set()
    for a in src.ancestors(use):
        if a is scope:
            break
        if isinstance(a, _LOOPS):
            use_loops.add(id(a))
    for a in src.ancestors(binding.node):
        if a is scope:
            break
        if id(a) in use_loops:
            return True
    return False


def reaching(src: PySource, use: ast.Name) -> list[ast.expr | None] | None:
    """Expressions that may be bound to ``use.id`` where it is read; None when it cannot be told.

    A None inside the list stands for an opaque binding (the caller treats it as unresolvable).
    """
    found = reaching_bindings(src, use)
    return None if found is None else [b.value for b in found]


def reaching_bindings(src: PySource, use: ast.Name) -> list[Binding] | None:
    """The bindings that may reach ``use`` (see ``reaching``); a parameter shows as ``is_param``,
    so a caller can tell the value passed by each call site from the parameter's default."""
    name = use.id
    inner = True  # the use runs when this scope runs (not later, from a nested function)
    want_module = False  # a `global` declaration sends the lookup straight to the module
    for scope in _scope_of(src, use):
        if isinstance(scope, _COMPREHENSIONS):
            if _comprehension_binds(scope, name):
                return None
            continue
        if want_module and not isinstance(scope, ast.Module):
            continue
        if isinstance(scope, ast.ClassDef) and not inner:
            continue  # class bodies are invisible from methods
        found, decl = bindings_in(src, scope, name)
        if decl == "global":
            want_module, inner = True, False
            continue
        if decl == "nonlocal":
            inner = False
            continue
        if found:
            return _reaching_in(src, found, use, scope, inner)
        if not isinstance(scope, ast.ClassDef):
            inner = False  # a class body runs in place; a function runs later
    return None


def _comprehension_binds(comp: ast.AST, name: str) -> bool:
    return any(_target_values(g.target, None, name) for g in comp.generators)  # type: ignore[attr-defined]


def _reaching_in(
    src: PySource, found: list[Binding], use: ast.Name, scope: ast.AST, inner: bool
) -> list[Binding] | None:
    if not inner:
        # Read from a nested function at call time: the top-level bindings at the scope's end.
        last_top = max(
            (i for i, b in enumerate(found) if b.is_param or src.parent(b.node) is scope), default=None
        )
        return found[last_top:] if last_top is not None else found
    at = _start(use)
    before = sorted((b for b in found if b.pos <= at), key=lambda b: b.pos)
    if not before:
        return None
    dom = max((i for i, b in enumerate(before) if _dominates(src, b, use, scope)), default=None)
    chosen = before[dom:] if dom is not None else before
    later_in_loop = [b for b in found if b.pos > at and _shares_loop(src, b, use, scope)]
    return chosen + later_in_loop


def resolve_literal(src: PySource, expr: ast.expr, depth: int = 0) -> object:
    """The literal value ``expr`` evaluates to, following names to literal bindings; else UNRESOLVED."""
    if isinstance(expr, ast.Name):
        if depth >= _MAX_DEPTH:
            return UNRESOLVED
        values = reaching(src, expr)
        if not values:
            return UNRESOLVED
        resolved = [resolve_literal(src, v, depth + 1) if v is not None else UNRESOLVED for v in values]
        first = resolved[0]
        if first is UNRESOLVED or any(r is UNRESOLVED or not same_value(r, first) for r in resolved[1:]):
            return UNRESOLVED
        return first
    try:
        return ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return UNRESOLVED


def same_value(a: object, b: object) -> bool:
    """Equality that keeps booleans apart from numbers (``True == 1`` is not the same decision)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b
