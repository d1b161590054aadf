"""What an expression can evaluate to, across the modules of a repository.

Agents rarely write ``anonymize=False`` in place: they pass ``**options``, ``not raw``, a constant
imported from a settings module, ``self.anonymize``, a ``functools.partial``, or a wrapper's
parameter. ``Evaluator.values`` returns the *set* of literal values an expression may take:

- literals, ``not``, ``and``/``or``, comparisons, conditional expressions (both branches), ``bool()``;
- names through the reaching assignments of their scope (``bindings``), imported names and
  ``module.NAME`` through the other module's top-level assignments, ``self.x`` through class-level
  and ``self.x = ...`` assignments of the class, subscripts of dict literals, return values of
  functions defined in the repository;
- a function *parameter* is not its default: it becomes a ``Param`` marker, and the caller (a
  detector) evaluates the parameter at every call site with the value actually passed there (the
  default only where the call passes nothing).

Anything else is ``UNKNOWN``. Depth is bounded, so cycles and deep chains end as ``UNKNOWN``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Iterator
from dataclasses import dataclass

from goaldrift.detect.bindings import reaching_bindings
from goaldrift.detect.pysource import PySource, walk_nodes
from goaldrift.detect.repo import Tree, import_base

MAX_DEPTH = 6
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Param:
    """The value of parameter ``name`` of ``fn`` (in file ``rel``) — decided by each call site."""

    rel: str
    fn: ast.AST
    name: str
    key: str | None = None  # for ``**kwargs`` parameters: the keyword read from it
    ops: tuple[tuple[object, ...], ...] = ()  # applied to the passed value: ("not",), ("cmp", op, other, left)

    def __hash__(self) -> int:
        return hash((self.rel, id(self.fn), self.name, self.key, self.ops))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Param) and (self.rel, self.fn, self.name, self.key, self.ops) == (
            other.rel, other.fn, other.name, other.key, other.ops)

    def then(self, *op: object) -> Param:
        return Param(self.rel, self.fn, self.name, self.key, (*self.ops, op))

    def apply(self, values: set) -> set:
        """The values the expression takes when the parameter is passed ``values``."""
        out = set()
        for v in values:
            for op in self.ops:
                if isinstance(v, Param):
                    v = Param(v.rel, v.fn, v.name, v.key, (*v.ops, op))
                elif v is UNKNOWN:
                    break
                elif op[0] == "not":
                    v = not v
                elif op[0] == "bool":
                    v = bool(v)
                elif op[0] == "cmp":
                    fn, other, left = op[1], op[2], op[3]
                    try:
                        v = bool(fn(v, other) if left else fn(other, v))
                    except TypeError:
                        v = UNKNOWN
            out.add(v)
        return out


Value = object  # a literal, UNKNOWN, or a Param
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}


def hashable(v: object) -> object:
    if isinstance(v, list):
        return tuple(hashable(x) for x in v)
    if isinstance(v, dict | set):
        return UNKNOWN
    return v


class Evaluator:
    """Value sets of expressions in one repository state (``Tree``)."""

    def __init__(self, tree: Tree):
        self.tree = tree
        self._defs: dict[str, list[tuple[str, PySource, ast.AST]]] | None = None

    # ---------------------------------------------------------------- repository index
    def defs(self, name: str) -> list[tuple[str, PySource, ast.AST]]:
        """Functions and classes named ``name`` anywhere in the repository (file, source, node)."""
        if self._defs is None:
            self._defs = {}
        if name not in self._defs:
            found = []
            needles = (f"def {name}", f"class {name}")
            for rel in self.tree.files():
                text = self.tree.text(rel) if rel.endswith(".py") else None
                if not text or not any(n in text for n in needles):
                    continue
                src = self.tree.python(rel)
                for node in walk_nodes(src, (*_FUNCS, ast.ClassDef)) if src is not None else ():
                    if node.name == name:
                        found.append((rel, src, node))
            self._defs[name] = found
        return self._defs[name]

    def module_binding(self, module: str, name: str) -> tuple[str, PySource, ast.expr] | None:
        """The last top-level ``name = expr`` of a repository module (following one re-export)."""
        rel = self.tree.module_file(module)
        src = self.tree.python(rel) if rel else None
        if src is None or rel is None:
            return None
        found: tuple[str, PySource, ast.expr] | None = None
        for stmt in src.tree.body:
            if isinstance(stmt, ast.Assign):
                for t in stmt.targets:
                    if isinstance(t, ast.Name) and t.id == name:
                        found = (rel, src, stmt.value)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                if isinstance(stmt.target, ast.Name) and stmt.target.id == name:
                    found = (rel, src, stmt.value)
            elif isinstance(stmt, ast.ImportFrom) and found is None:
                for a in stmt.names:
                    if (a.asname or a.name) == name:
                        base = import_base(self.tree, rel, stmt)
                        if base != module:
                            return self.module_binding(base, a.name)
        return found

    def _from_import(self, rel: str, node: ast.ImportFrom, name: str) -> tuple[str, str]:
        attr = next((a.name for a in node.names if (a.asname or a.name) == name), name)
        return import_base(self.tree, rel, node), attr

    def imported(self, rel: str, src: PySource, name: str) -> tuple[str, str] | None:
        """(module, attribute) for ``from M import attribute as name`` in ``src``; (M, "") for ``import M``."""
        for node in walk_nodes(src, (ast.ImportFrom, ast.Import)):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if (a.asname or a.name) == name:
                        return import_base(self.tree, rel, node), a.name
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname == name:
                        return a.name, ""
                    if a.asname is None and a.name.split(".")[0] == name:
                        return a.name.split(".")[0], ""
        return None

    # ---------------------------------------------------------------- evaluation
    def values(self, rel: str, src: PySource, expr: ast.expr | None, depth: int = 0) -> set[Value]:
        if expr is None or depth > MAX_DEPTH:
            return {UNKNOWN}
        try:
            return set(self._values(rel, src, expr, depth))
        except RecursionError:
            return {UNKNOWN}

    def _values(self, rel: str, src: PySource, expr: ast.expr, depth: int) -> Iterator[Value]:
        d = depth + 1
        if isinstance(expr, ast.Constant):
            yield expr.value
        elif isinstance(expr, ast.List | ast.Tuple) and all(isinstance(e, ast.Constant) for e in expr.elts):
            yield tuple(e.value for e in expr.elts)  # type: ignore[attr-defined]
        elif isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
            for v in self.values(rel, src, expr.operand, d):
                yield v.then("not") if isinstance(v, Param) else v if v is UNKNOWN else (not v)
        elif isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
            for v in self.values(rel, src, expr.operand, d):
                yield -v if isinstance(v, int | float) and not isinstance(v, bool) else UNKNOWN
        elif isinstance(expr, ast.IfExp):
            yield from self.values(rel, src, expr.body, d)
            yield from self.values(rel, src, expr.orelse, d)
        elif isinstance(expr, ast.BoolOp):
            yield from self._boolop(rel, src, expr, d)
        elif isinstance(expr, ast.Compare) and len(expr.ops) == 1:
            op = _COMPARE.get(type(expr.ops[0]))
            for a in self.values(rel, src, expr.left, d):
                for b in self.values(rel, src, expr.comparators[0], d):
                    if op is not None and isinstance(a, Param) and not _opaque(b):
                        yield a.then("cmp", op, b, True)
                        continue
                    if op is not None and isinstance(b, Param) and not _opaque(a):
                        yield b.then("cmp", op, a, False)
                        continue
                    if op is None or _opaque(a) or _opaque(b):
                        yield UNKNOWN
                        continue
                    try:
                        yield bool(op(a, b))
                    except TypeError:
                        yield UNKNOWN
        elif isinstance(expr, ast.Name):
            yield from self._name(rel, src, expr, d)
        elif isinstance(expr, ast.Attribute):
            yield from self._attribute(rel, src, expr, d)
        elif isinstance(expr, ast.Subscript):
            yield from self._subscript(rel, src, expr, d)
        elif isinstance(expr, ast.Call):
            yield from self._call(rel, src, expr, d)
        elif isinstance(expr, ast.NamedExpr):
            yield from self.values(rel, src, expr.value, d)
        else:
            yield UNKNOWN

    def _boolop(self, rel: str, src: PySource, expr: ast.BoolOp, d: int) -> Iterator[Value]:
        results: set[Value] = set(self.values(rel, src, expr.values[0], d))
        is_and = isinstance(expr.op, ast.And)
        for operand in expr.values[1:]:
            nxt = self.values(rel, src, operand, d)
            out: set[Value] = set()
            for a in results:
                if _opaque(a):
                    out.add(UNKNOWN)
                elif bool(a) != is_and:
                    out.add(a)  # short-circuit: `True or x` is True, `False and x` is False
                else:
                    out |= nxt
            results = out
        yield from results

    def _name(self, rel: str, src: PySource, use: ast.Name, d: int) -> Iterator[Value]:
        found = reaching_bindings(src, use)
        if found is None:
            target = self.imported(rel, src, use.id)
            if target is not None and target[1]:
                bound = self.module_binding(*target)
                if bound is not None:
                    yield from self.values(bound[0], bound[1], bound[2], d)
                    return
            yield UNKNOWN
            return
        for b in found:
            if b.is_param:
                args = b.node.args  # type: ignore[attr-defined]
                key = None
                if args.kwarg is not None and args.kwarg.arg == use.id:
                    key = "**"
                yield Param(rel, b.node, use.id, key)
            elif b.value is None and isinstance(b.node, ast.ImportFrom):
                bound = self.module_binding(*self._from_import(rel, b.node, use.id))
                yield from (self.values(bound[0], bound[1], bound[2], d) if bound else [UNKNOWN])
            elif b.value is None:
                yield UNKNOWN
            else:
                yield from self.values(rel, src, b.value, d)

    def _attribute(self, rel: str, src: PySource, expr: ast.Attribute, d: int) -> Iterator[Value]:
        base = expr.value
        if isinstance(base, ast.Name) and base.id in ("self", "cls"):
            cls = next((a for a in src.ancestors(expr) if isinstance(a, ast.ClassDef)), None)
            if cls is None:
                yield UNKNOWN
                return
            yield from self._class_attr(rel, src, cls, expr.attr, d)
            return
        if isinstance(base, ast.Name):
            target = self.imported(rel, src, base.id)
            if target is not None:
                module = f"{target[0]}.{target[1]}" if target[1] else target[0]
                bound = self.module_binding(module, expr.attr)
                if bound is not None:
                    yield from self.values(bound[0], bound[1], bound[2], d)
                    return
            for cls_rel, cls_src, node in self.defs(base.id):
                if isinstance(node, ast.ClassDef):
                    yield from self._class_attr(cls_rel, cls_src, node, expr.attr, d)
                    return
        yield UNKNOWN

    def _class_attr(self, rel: str, src: PySource, cls: ast.ClassDef, attr: str, d: int) -> Iterator[Value]:
        found = False
        for stmt in cls.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else (
                [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else [])
            for t in targets:
                if isinstance(t, ast.Name) and t.id == attr:
                    found = True
                    yield from self.values(rel, src, stmt.value, d)  # type: ignore[union-attr]
        for node in ast.walk(cls):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if (isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name)
                            and t.value.id == "self"):
                        found = True
                        yield from self.values(rel, src, node.value, d)
        if not found:
            yield UNKNOWN

    def _subscript(self, rel: str, src: PySource, expr: ast.Subscript, d: int) -> Iterator[Value]:
        key = expr.slice
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            yield UNKNOWN
            return
        for mapping_rel, mapping_src, mapping in self.expressions(rel, src, expr.value, d):
            value = dict_entry(mapping, key.value)
            if value is False:
                yield UNKNOWN
            else:
                yield from self.values(mapping_rel, mapping_src, value, d)  # type: ignore[arg-type]

    def expressions(self, rel: str, src: PySource, expr: ast.expr, d: int) -> Iterator[tuple[str, PySource, ast.expr]]:
        """The expressions a name or module attribute is bound to (itself when it is neither)."""
        if d > MAX_DEPTH:
            return
        if isinstance(expr, ast.Name):
            found = reaching_bindings(src, expr)
            if found is None:
                target = self.imported(rel, src, expr.id)
                bound = self.module_binding(*target) if target is not None and target[1] else None
                if bound is not None:
                    yield from self.expressions(bound[0], bound[1], bound[2], d + 1)
                return
            for b in found:
                if b.value is not None and not b.is_param:
                    yield from self.expressions(rel, src, b.value, d + 1)
                elif isinstance(b.node, ast.ImportFrom):
                    bound = self.module_binding(*self._from_import(rel, b.node, expr.id))
                    if bound is not None:
                        yield from self.expressions(bound[0], bound[1], bound[2], d + 1)
            return
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            target = self.imported(rel, src, expr.value.id)
            if target is not None:
                module = f"{target[0]}.{target[1]}" if target[1] else target[0]
                bound = self.module_binding(module, expr.attr)
                if bound is not None:
                    yield from self.expressions(bound[0], bound[1], bound[2], d + 1)
                    return
        yield rel, src, expr

    def _call(self, rel: str, src: PySource, call: ast.Call, d: int) -> Iterator[Value]:
        func = call.func
        if isinstance(func, ast.Name) and func.id == "bool" and len(call.args) == 1:
            for v in self.values(rel, src, call.args[0], d):
                yield v.then("bool") if isinstance(v, Param) else v if v is UNKNOWN else bool(v)
            return
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        fns = [(r, s, n) for r, s, n in self.defs(name) if isinstance(n, _FUNCS)] if name else []
        if len(fns) != 1:
            yield UNKNOWN
            return
        fn_rel, fn_src, fn = fns[0]
        returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return) and _owner(fn_src, n) is fn]
        if not returns:
            yield None
            return
        for r in returns:
            for v in self.values(fn_rel, fn_src, r.value, d) if r.value is not None else {None}:
                # a parameter read in the callee is decided by this call's argument
                if isinstance(v, Param) and v.fn is fn:
                    arg = argument_for(call, fn, v.name)
                    yield from (self.values(rel, src, arg, d) if arg is not None else {UNKNOWN})
                else:
                    yield v


def _owner(src: PySource, node: ast.AST) -> ast.AST | None:
    return next((a for a in src.ancestors(node) if isinstance(a, (*_FUNCS, ast.Lambda))), None)


def _opaque(v: Value) -> bool:
    return v is UNKNOWN or isinstance(v, Param)


def dict_entry(expr: ast.expr, key: str) -> ast.expr | None | bool:
    """The value a dict literal / ``dict(...)`` call holds for ``key``; None if absent, False if unknowable."""
    if isinstance(expr, ast.Dict):
        result: ast.expr | None | bool = None
        for k, v in zip(expr.keys, expr.values):
            if k is None:
                nested = dict_entry(v, key)
                if nested is not None:
                    result = nested
            elif isinstance(k, ast.Constant) and k.value == key:
                result = v
            elif not isinstance(k, ast.Constant):
                result = False
        return result
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "dict" and not expr.args:
        result = None
        for kw in expr.keywords:
            if kw.arg == key:
                result = kw.value
            elif kw.arg is None:
                result = False
        return result
    return False


def argument_for(call: ast.Call, fn: ast.AST, name: str, skip_self: bool = False) -> ast.expr | None:
    """The expression ``call`` passes for parameter ``name`` of ``fn``, or its default, or None."""
    args = fn.args  # type: ignore[attr-defined]
    positional = [a.arg for a in args.posonlyargs + args.args]
    if skip_self and positional[:1] in (["self"], ["cls"]):
        positional = positional[1:]
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    if name in positional:
        i = positional.index(name)
        if i < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[: i + 1]):
            return call.args[i]
    for kw in call.keywords:
        if kw.arg is None:
            entry = dict_entry(kw.value, name)
            if isinstance(entry, ast.expr):
                return entry
    return default_of(fn, name)


def default_of(fn: ast.AST, name: str) -> ast.expr | None:
    args = fn.args  # type: ignore[attr-defined]
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for a, dflt in list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults)):
        if a.arg == name:
            return dflt
    return None
