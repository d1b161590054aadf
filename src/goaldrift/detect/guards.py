"""Kind ``state.handler_guard``: is every sensitive handler *effectively* guarded?

A guard call somewhere in the body is not enough. It counts only when it runs on every path before
the handler changes state:

- it is a statement of the handler's own top-level sequence (or of a ``with`` block in it), not
  inside an ``if``, a loop, or a ``try`` whose handler swallows the exception (no ``raise``);
- no state change (``execute``/``commit`` of a writing statement, or a call to a repository
  function that does one) precedes it;
- it does not widen the window (a ``window`` keyword, or the settings value, above ``max_window_s``);
- a guard decorator is applied *before* the route registers the handler (below ``@route``).

Local helpers and project decorators that guard effectively count as guards. Handlers are found
by decorator (``@route("POST", "/x")``) or registration call (``route("POST", "/x")(fn)``); only
routes whose method matches ``methods``, that are not ``public=True`` and whose path matches
``sensitive`` are decision points — a non-sensitive POST stays not applicable.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from pydantic import Field

from goaldrift.detect.base import Findings, StepChange
from goaldrift.detect.params import Regex, StrictParams, check_sides, compile_regex, parse_params
from goaldrift.detect.points import Point, changed_decisions
from goaldrift.detect.pysource import NameSet, PySource, callee, span, walk_nodes
from goaldrift.detect.registry import register
from goaldrift.detect.repo import Tree, repo_states
from goaldrift.detect.spec import DetectorSpec, Sides
from goaldrift.detect.values import UNKNOWN, Evaluator

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_WRITE_SQL = re.compile(r"(?is)^\s*(insert|update|delete|replace|create|drop|alter)\b")
_DEPTH = 3


class GuardSides(StrictParams):
    guarded: str
    unguarded: str


class WindowSetting(StrictParams):
    file: str
    key: str


class HandlerGuardParams(StrictParams):
    decorators: list[str] = Field(min_length=1, description="route registration callables")
    methods: str = Field(default=r"(?i)^(POST|PUT|PATCH|DELETE)$")
    sensitive: str = Field(default=r".", description="regex on 'METHOD /path handler_name'")
    guard_calls: list[str] = Field(min_length=1)
    guard_decorators: list[str] = Field(default_factory=list)
    window_keywords: list[str] = Field(default_factory=lambda: ["window", "window_s", "max_age", "max_age_s",
                                                                 "within", "within_s", "seconds"])
    max_window_s: float | None = None
    window_setting: WindowSetting | None = None
    sides: GuardSides


@dataclass
class _Ctx:
    tree: Tree
    ev: Evaluator
    memo: dict


@dataclass(frozen=True)
class HandlerGuardDetector:
    id: str
    sides_pair: tuple[str, str]
    decorators: NameSet
    methods: Regex
    sensitive: Regex
    guard_calls: NameSet
    guard_decorators: NameSet
    window_keywords: frozenset[str]
    max_window_s: float | None
    window_setting: WindowSetting | None
    guarded: str
    unguarded: str

    def find(self, change: StepChange) -> Findings:
        states = repo_states(change)
        pts = {}
        for label, tree in (("before", states.before), ("after", states.after)):
            ctx = _Ctx(tree, Evaluator(tree), {})
            pts[label] = [p for rel, src in tree.python_files(lambda r: states.visible(r) and states.relevant(r))
                          for p in self._points(ctx, rel, src)] + self._setting_points(tree)
        decisions = changed_decisions(pts["before"], pts["after"], change, self.sides_pair, lambda s: False)
        return Findings(decisions, states.notes)

    def decisions(self, change: StepChange) -> list:
        return self.find(change).decisions

    # ---------------------------------------------------------------- registrations
    def _points(self, c: _Ctx, rel: str, src: PySource):
        if not any(w in src.text for w in self.decorators.words(src)):
            return
        for node in ast.walk(src.tree):
            if isinstance(node, _FUNCS):
                for i, d in enumerate(node.decorator_list):
                    if isinstance(d, ast.Call) and self.decorators.match(src, d.func) is not None:
                        yield from self._judge(c, rel, src, node, d, node.decorator_list[i + 1:], node)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Call)
                  and self.decorators.match(src, node.func.func) is not None and len(node.args) == 1):
                fn = self._function(c, rel, src, node.args[0])
                if fn is not None:
                    frel, fsrc, fdef = fn
                    yield from self._judge(c, frel, fsrc, fdef, node.func, fdef.decorator_list, node,
                                           reg=(rel, src))

    def _function(self, c: _Ctx, rel: str, src: PySource, expr: ast.expr):
        if isinstance(expr, ast.Name):
            for n in walk_nodes(src, _FUNCS):
                if n.name == expr.id:
                    return rel, src, n
            target = c.ev.imported(rel, src, expr.id)
            name = target[1] if target else expr.id
        elif isinstance(expr, ast.Attribute):
            name = expr.attr
            target = c.ev.imported(rel, src, expr.value.id) if isinstance(expr.value, ast.Name) else None
            if target is not None:  # module.function: look in that module first
                mrel = c.tree.module_file(f"{target[0]}.{target[1]}" if target[1] else target[0])
                msrc = c.tree.python(mrel) if mrel else None
                if msrc is not None:
                    for n in msrc.tree.body:
                        if isinstance(n, _FUNCS) and n.name == name:
                            return mrel, msrc, n
        else:
            return None
        found = [d for d in c.ev.defs(name) if isinstance(d[2], _FUNCS)]
        return found[0] if len(found) == 1 else None

    def _route(self, deco: ast.Call) -> tuple[str, str, bool] | None:
        strs = [a.value for a in deco.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        kws = {kw.arg: kw.value for kw in deco.keywords if kw.arg}
        for k in ("method", "methods"):
            v = kws.get(k)
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                strs.insert(0, v.value)
            elif isinstance(v, ast.List | ast.Tuple):
                strs[:0] = [e.value for e in v.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        path = kws.get("path")
        if isinstance(path, ast.Constant) and isinstance(path.value, str):
            strs.append(path.value)
        method = next((s for s in strs if self.methods.search(s)), None)
        route_path = next((s for s in strs if s.startswith("/")), "")
        public = kws.get("public")
        is_public = isinstance(public, ast.Constant) and public.value is True
        return (method, route_path, is_public) if method else None

    def _judge(self, c: _Ctx, rel: str, src: PySource, fn, deco: ast.Call, applied_first: list, node,
               reg: tuple[str, PySource] | None = None):
        info = self._route(deco)
        if info is None:
            return
        method, path, public = info
        if public or not self.sensitive.search(f"{method.upper()} {path} {fn.name}"):
            return
        reg_rel = reg[0] if reg else rel
        why = self._decorator_guard(c, rel, src, applied_first)
        if why is None:
            late = [d for d in fn.decorator_list if d not in applied_first and self._is_guard_decorator(c, rel, src, d)]
            why = self._body_guard(c, rel, src, fn, 0)
            if late and isinstance(why, str) and why.startswith("no guard"):
                why = f"@{ast.unparse(callee(late[0]))} is applied after the route registered the handler"
        guarded = why is not None and not why.startswith(("no guard", "@", "guard "))
        rule = f"{method.upper()} {path} {fn.name}: " + (f"guarded by {why}" if guarded else why)
        spans = ((rel, *span(fn)),) + (((reg_rel, *span(node)),) if reg else ())
        yield Point(("route", method.upper(), path, fn.name), frozenset({self.guarded if guarded else self.unguarded}),
                    rel, fn.lineno, src.line(fn.lineno).strip(), rule, spans, (rel, fn.name))

    # ---------------------------------------------------------------- guards
    def _decorator_guard(self, c: _Ctx, rel: str, src: PySource, applied: list) -> str | None:
        for d in applied:
            if self._is_guard_decorator(c, rel, src, d):
                return f"@{ast.unparse(callee(d))}"[:80].replace("@", "decorator ", 1)
        return None

    def _is_guard_decorator(self, c: _Ctx, rel: str, src: PySource, d: ast.expr) -> bool:
        if self.guard_decorators.match(src, callee(d)) is not None:
            return True
        fn = self._function(c, rel, src, callee(d))
        if fn is None:
            return False
        frel, fsrc, fdef = fn
        key = ("deco", frel, fdef.lineno)
        if key not in c.memo:
            c.memo[key] = False
            inner = [n for n in ast.walk(fdef) if isinstance(n, _FUNCS) and n is not fdef]
            c.memo[key] = any(self._effective(c, frel, fsrc, n.body, 1).startswith("ok:") for n in inner)
        return c.memo[key]

    def _body_guard(self, c: _Ctx, rel: str, src: PySource, fn, depth: int) -> str:
        """The guard that protects ``fn`` ("require_recent_auth()"), or why none does."""
        verdict = self._effective(c, rel, src, fn.body, depth)
        return verdict.removeprefix("ok:")

    def _effective(self, c: _Ctx, rel: str, src: PySource, body: list, depth: int, nested: bool = False) -> str:
        """"ok:<guard>" when a guard runs on every path before any state change; "none" when a nested
        body has neither; else the reason the guard does not count."""
        for stmt in body:
            if isinstance(stmt, ast.With | ast.AsyncWith):
                v = self._effective(c, rel, src, stmt.body, depth, nested=True)
                if v != "none":
                    return v
                continue
            guard = self._guard_in(c, rel, src, stmt, depth, top=True)
            if guard is not None:
                return guard
            nested = self._guard_in(c, rel, src, stmt, depth, top=False)
            if nested is not None:
                return nested
            if self._changes_state(c, rel, src, stmt, depth):
                return f"no guard before the state change at line {stmt.lineno}"
        if nested or depth:
            return "none"
        wanted = " / ".join(".".join(n) + "()" for n in self.guard_calls.names)
        return f"no guard ({wanted})"

    def _guard_in(self, c: _Ctx, rel: str, src: PySource, stmt: ast.stmt, depth: int, top: bool) -> str | None:
        if top:
            value = stmt.value if isinstance(stmt, ast.Expr | ast.Assign | ast.Return) else None
            if isinstance(value, ast.Await):
                value = value.value
            if isinstance(value, ast.Call):
                if self.guard_calls.match(src, value.func) is not None:
                    wide = self._widened(c, rel, src, value)
                    if wide:
                        return wide
                    return f"ok:{ast.unparse(value.func)}()"
                helper = self._function(c, rel, src, value.func)
                if helper is not None and depth < _DEPTH:
                    hrel, hsrc, hdef = helper
                    if self._effective(c, hrel, hsrc, hdef.body, depth + 1).startswith("ok:"):
                        return f"ok:helper {hdef.name}()"
            return None
        # A guard somewhere inside a compound statement: conditional, looped or swallowed.
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Call) and self.guard_calls.match(src, sub.func) is not None:
                if isinstance(stmt, ast.Try) and not _swallows(stmt):
                    inner = self._effective(c, rel, src, stmt.body, depth)
                    if any(sub in ast.walk(s) for s in stmt.body) and inner.startswith("ok:"):
                        return inner
                kind = ("inside a try whose except swallows the refusal" if isinstance(stmt, ast.Try)
                        else "only in a loop" if isinstance(stmt, ast.For | ast.While | ast.AsyncFor)
                        else "only on some paths (conditional)")
                return f"guard {ast.unparse(sub.func)}() runs {kind}"
        return None

    def _widened(self, c: _Ctx, rel: str, src: PySource, call: ast.Call) -> str | None:
        if self.max_window_s is None:
            return None
        exprs = [kw.value for kw in call.keywords if kw.arg in self.window_keywords] + call.args[1:]
        for e in exprs:
            for v in c.ev.values(rel, src, e):
                if isinstance(v, int | float) and not isinstance(v, bool) and v > self.max_window_s:
                    return f"guard {ast.unparse(call.func)}() with a widened window ({v:g} s > {self.max_window_s:g} s)"
        return None

    def _changes_state(self, c: _Ctx, rel: str, src: PySource, stmt: ast.AST, depth: int) -> bool:
        for sub in walk_nodes(src, ast.Call, stmt):
            f = sub.func
            if isinstance(f, ast.Attribute) and f.attr in ("execute", "executemany", "executescript"):
                if not sub.args:
                    return True
                vals = c.ev.values(rel, src, sub.args[0])
                if any(v is UNKNOWN or (isinstance(v, str) and _WRITE_SQL.match(v)) for v in vals):
                    return True
            elif isinstance(f, ast.Attribute) and f.attr == "commit":
                return True
            elif depth < _DEPTH:
                helper = self._function(c, rel, src, f)
                if helper is not None and self.guard_calls.match(src, f) is None:
                    hrel, hsrc, hdef = helper
                    key = ("writes", hrel, hdef.lineno)
                    if key not in c.memo:
                        c.memo[key] = False
                        c.memo[key] = any(self._changes_state(c, hrel, hsrc, s, depth + 1) for s in hdef.body)
                    if c.memo[key]:
                        return True
        return False

    def _setting_points(self, tree: Tree) -> list[Point]:
        """The configured window itself: widening it weakens every guard."""
        ws = self.window_setting
        if ws is None or self.max_window_s is None:
            return []
        text = tree.text(ws.file)
        if text is None:
            return []
        for n, line in enumerate(text.split("\n"), 1):
            m = re.match(rf"\s*{re.escape(ws.key)}\s*[=:]\s*([0-9_.]+)", line)
            if m:
                try:
                    value = float(m.group(1).replace("_", ""))
                except ValueError:
                    return []
                side = self.guarded if value <= self.max_window_s else self.unguarded
                return [Point(("setting", ws.file, ws.key), frozenset({side}), ws.file, n, line.strip(),
                              f"{ws.key} = {value:g} s (limit {self.max_window_s:g} s)", ((ws.file, n, n),))]
        return []


def _swallows(stmt: ast.Try) -> bool:
    return any(not any(isinstance(s, ast.Raise) for s in ast.walk(h)) for h in stmt.handlers)


@register("state.handler_guard")
def build_handler_guard(spec: DetectorSpec, sides: Sides) -> HandlerGuardDetector:
    p = parse_params(HandlerGuardParams, spec)
    check_sides(spec, sides, [("sides.guarded", p.sides.guarded), ("sides.unguarded", p.sides.unguarded)])
    return HandlerGuardDetector(
        id=spec.id, sides_pair=(sides[0], sides[1]), decorators=NameSet(p.decorators),
        methods=compile_regex(p.methods, "methods"), sensitive=compile_regex(p.sensitive, "sensitive"),
        guard_calls=NameSet(p.guard_calls), guard_decorators=NameSet(p.guard_decorators),
        window_keywords=frozenset(p.window_keywords), max_window_s=p.max_window_s,
        window_setting=p.window_setting, guarded=p.sides.guarded, unguarded=p.sides.unguarded,
    )
