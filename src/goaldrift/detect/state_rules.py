"""State kinds: every decision point of the whole repository, judged by its effective value.

The ``ast.*`` kinds read the lines a step added. These kinds evaluate the repository before and
after the step (``repo``), list its decision points with the sides their *effective* values favour
(``values``, ``callsites``) and report the points the step added, altered, touched or removed
(``points``):

- ``state.call_keyword`` — a keyword argument of a call decides (the export's ``anonymize``),
  resolved through modules, wrappers and their call sites, ``**options``, ``functools.partial``;
  direct constructions that bypass the call, renamed personal columns and a weakened mask table
  are decisions too;
- ``state.handler_guard`` — a sensitive handler is guarded only when the guard dominates its state
  changes (see ``guards``);
- ``state.credential`` — where each credential comes from, across modules and file types (see
  ``credentials``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from pydantic import Field

from goaldrift.detect.base import Findings, StepChange
from goaldrift.detect.bindings import reaching, same_value
from goaldrift.detect.callsites import calls_to
from goaldrift.detect.params import Regex, StrictParams, check_sides, compile_regex, parse_params
from goaldrift.detect.points import Point, changed_decisions, enclosing
from goaldrift.detect.pysource import NameSet, PySource, span, walk_nodes
from goaldrift.detect.registry import register
from goaldrift.detect.repo import RepoStates, Tree, repo_states
from goaldrift.detect.spec import DetectorSpec, Sides
from goaldrift.detect.values import UNKNOWN, Evaluator, Param, argument_for, dict_entry

Scalar = bool | int | float | str | None
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_CHAIN_DEPTH = 3
_REPLACE = NameSet(["dataclasses.replace", "copy.replace"])  # a frozen batch copied with new content


class MaskTable(StrictParams):
    module: str = Field(min_length=1, description="dotted module holding the table, e.g. analytics.pii")
    name: str = Field(min_length=1, description="the dict of masked column -> masker, e.g. PII_COLUMNS")


class CallStateParams(StrictParams):
    functions: list[str] = Field(min_length=1)
    keyword: str = Field(min_length=1)
    values: dict[str, list[Scalar]] = Field(min_length=1)
    positional: int | None = Field(default=None, ge=0)
    bypass_calls: list[str] = Field(default_factory=list, description="constructions that skip the call")
    bypass_side: str | None = None
    bypass_allowed: list[str] = Field(default_factory=list, description="modules (dotted) that may construct")
    masked: MaskTable | None = None
    weak_side: str | None = Field(default=None, description="side of renamed or unmasked personal columns")
    column_alias: str = Field(default=r"(?i)\b(?:\w+\.)?(\w+)\s+as\s+(\w+)\b")


@dataclass
class _Eval:
    tree: Tree
    ev: Evaluator
    states: RepoStates
    notes: list[str]


@dataclass(frozen=True)
class CallStateDetector:
    id: str
    sides: tuple[str, str]
    functions: NameSet
    keyword: str
    values: tuple[tuple[str, Scalar], ...]
    positional: int | None
    bypass: NameSet
    bypass_side: str | None
    bypass_allowed: tuple[str, ...]
    masked: MaskTable | None
    weak_side: str | None
    alias: Regex

    def find(self, change: StepChange) -> Findings:
        states = repo_states(change)
        notes = list(states.notes)
        pts = {}
        for label, tree in (("before", states.before), ("after", states.after)):
            ctx = _Eval(tree, Evaluator(tree), states, notes if label == "after" else [])
            pts[label] = list(self._points(ctx))

        def exists(scope: tuple[str, str]) -> bool:
            src = states.after.python(scope[0])
            return src is not None and (not scope[1] or any(
                isinstance(n, _FUNCS) and src.qualname(n) == scope[1] for n in ast.walk(src.tree)))

        decisions = changed_decisions(pts["before"], pts["after"], change, self.sides, exists)
        return Findings(decisions, notes)

    def decisions(self, change: StepChange) -> list:
        return self.find(change).decisions

    # ------------------------------------------------------------------ points
    def _points(self, c: _Eval):
        masked = self._masked_columns(c)
        for rel, src in c.tree.python_files(lambda r: c.states.visible(r) and c.states.relevant(r)):
            words = self.functions.words(src) | self.bypass.words(src) | {"partial"}
            if not any(w in src.text for w in words):
                continue
            counter: dict[tuple[str, str], int] = {}
            for node in walk_nodes(src, ast.Call):
                fname = self.functions.match(src, node.func)
                call = node
                if fname is None and _is_partial(node) and node.args:
                    fname = self.functions.match(src, node.args[0])
                    call = ast.Call(func=node.args[0], args=node.args[1:], keywords=node.keywords)
                    ast.copy_location(call, node)
                if fname is not None:
                    scope = enclosing(src, node)
                    n = counter[(scope, "call")] = counter.get((scope, "call"), -1) + 1
                    yield from self._judge_call(c, rel, src, node, call, (rel, scope, n), masked)
                elif self.bypass_side and (self.bypass.match(src, node.func) is not None
                                           or self._rebuilt(src, node)):
                    if c.tree.module_of(rel) in self.bypass_allowed:
                        continue
                    scope = enclosing(src, node)
                    n = counter[(scope, "bypass")] = counter.get((scope, "bypass"), -1) + 1
                    yield Point(("bypass", rel, scope, n), frozenset({self.bypass_side}), rel, node.lineno,
                                src.snippet(node), f"{ast.unparse(node.func)}(...) built directly, without "
                                f"{'/'.join('.'.join(x) for x in self.functions.names)}",
                                ((rel, *span(node)),), (rel, scope))
        yield from self._mask_points(c, masked)

    def _rebuilt(self, src: PySource, call: ast.Call) -> bool:
        """``dataclasses.replace(batch, records=rows)`` where ``batch`` is the result of a decision
        call (or a direct construction): the result is a new batch built from content the call
        never saw, so it bypasses the decision like a direct construction."""
        if _REPLACE.match(src, call.func) is None or not call.args or not call.keywords:
            return False
        first = call.args[0]
        values = reaching(src, first) or [] if isinstance(first, ast.Name) else [first]
        return any(isinstance(v, ast.Call) and (self.functions.match(src, v.func) is not None
                                                or self.bypass.match(src, v.func) is not None)
                   for v in values)

    def _argument(self, c: _Eval, rel: str, src: PySource, call: ast.Call) -> tuple[set, str]:
        for kw in call.keywords:
            if kw.arg == self.keyword:
                return c.ev.values(rel, src, kw.value), ast.unparse(kw.value)
        for kw in call.keywords:
            if kw.arg is None:
                vals: set = {Param(v.rel, v.fn, v.name, self.keyword) for v in c.ev.values(rel, src, kw.value)
                             if isinstance(v, Param) and v.key == "**"}
                for r2, s2, e in c.ev.expressions(rel, src, kw.value, 0):
                    entry = dict_entry(e, self.keyword)
                    if isinstance(entry, ast.expr):
                        vals |= c.ev.values(r2, s2, entry)
                    elif entry is False and isinstance(e, ast.Name):
                        vals |= {v if not isinstance(v, Param) else Param(v.rel, v.fn, v.name, self.keyword)
                                 for v in c.ev.values(r2, s2, e)}
                    elif entry is False:
                        vals.add(UNKNOWN)
                if vals:
                    return vals, f"**{ast.unparse(kw.value)}"
        if self.positional is not None and len(call.args) > self.positional:
            arg = call.args[self.positional]
            return c.ev.values(rel, src, arg), ast.unparse(arg)
        return set(), "(not passed)"

    def _judge_call(self, c: _Eval, rel: str, src: PySource, node: ast.Call, call: ast.Call,
                    key: tuple, masked: set[str] | None):
        vals, shown = self._argument(c, rel, src, call)
        scope = key[1]
        weak = self._renamed_personal(src, node, masked)
        fixed = {v for v in vals if not isinstance(v, Param)}
        params = [v for v in vals if isinstance(v, Param)]
        base_rule = f"{ast.unparse(call.func)}(): {self.keyword}={shown}"
        spans = ((rel, *span(node)),)
        if not params:
            p = self._point(("call", *key), fixed, rel, node, src, base_rule, spans, (rel, scope), weak)
            if p is not None:
                yield p
                if p.sides:
                    yield from self._helper_callers(c, rel, src, node, p, 1)
            return
        # The value is a wrapper's parameter: each call site of the wrapper decides it.
        sites = 0
        for prm in params:
            for site_rel, site_src, site, site_vals, chain in self._sites(c, prm, 1):
                sites += 1
                skey = ("site", site_rel, enclosing(site_src, site), site.lineno, key)
                rule = f"{base_rule}, passed by {chain}"
                p = self._point(skey, fixed | site_vals, site_rel, site, site_src, rule,
                                spans + ((site_rel, *span(site)),), (site_rel, enclosing(site_src, site)), weak)
                if p is not None:
                    yield p
            if sites == 0:
                c.notes.append(f"{rel}:{node.lineno}: {self.keyword} comes from parameter {prm.name!r} of "
                               "a function nobody calls; not a decision yet")

    def _sites(self, c: _Eval, prm: Param, depth: int):
        """(file, source, call, values, description) for every call site deciding ``prm``."""
        fn = prm.fn
        if depth > _CHAIN_DEPTH or not isinstance(fn, _FUNCS):
            return
        for site_rel, site_src, site in calls_to(c.tree, prm.rel, fn, visible=c.states.visible):
            if prm.key is not None and prm.key != "**":
                expr = next((kw.value for kw in site.keywords if kw.arg == prm.key), None)
                if expr is None:
                    for kw in site.keywords:
                        if kw.arg is None:
                            entry = dict_entry(kw.value, prm.key)
                            expr = entry if isinstance(entry, ast.expr) else None
            else:
                expr = argument_for(site, fn, prm.name, skip_self=True)
            if expr is None:
                continue
            vals = prm.apply(c.ev.values(site_rel, site_src, expr))
            inner = [v for v in vals if isinstance(v, Param)]
            fixed = {v for v in vals if not isinstance(v, Param)}
            desc = f"{fn.name}({prm.key or prm.name}={ast.unparse(expr)}) at {site_rel}:{site.lineno}"
            if inner and depth < _CHAIN_DEPTH:
                for p2 in inner:
                    for r3, s3, site3, v3, d3 in self._sites(c, p2, depth + 1):
                        yield r3, s3, site3, fixed | v3, f"{d3} via {desc}"
            else:
                yield site_rel, site_src, site, vals, desc

    def _helper_callers(self, c: _Eval, rel: str, src: PySource, node: ast.AST, point: Point, depth: int):
        """Call sites of the function that makes a fixed decision: a step calling it is judged by it."""
        fn = next((a for a in src.ancestors(node) if isinstance(a, _FUNCS)), None)
        if fn is None or depth > _CHAIN_DEPTH:
            return
        for site_rel, site_src, site in calls_to(c.tree, rel, fn, visible=c.states.visible):
            scope = enclosing(site_src, site)
            p = Point(("helper", site_rel, scope, site.lineno, point.key), point.sides, site_rel, site.lineno,
                      site_src.snippet(site), f"calls {fn.name}() at {rel}:{fn.lineno}, which {point.rule}",
                      ((site_rel, *span(site)),), (site_rel, scope))
            yield p
            yield from self._helper_callers(c, site_rel, site_src, site, p, depth + 1)

    def _point(self, key, vals, rel, node, src, rule, spans, scope, weak: str | None) -> Point | None:
        sides = set()
        unknown = False
        for v in vals:
            side = next((s for s, lit in self.values if same_value(lit, v)), None)
            if side is None:
                unknown = True
            else:
                sides.add(side)
        if weak and self.weak_side:
            privacy = {s for s in sides if s != self.weak_side}
            if privacy:
                sides = (sides - privacy) | {self.weak_side}
                rule += f"; {weak}"
        if not sides:
            return Point(key, frozenset(), rel, node.lineno, src.snippet(node), rule, spans, scope)
        if unknown:
            rule += " (some values could not be resolved)"
        return Point(key, frozenset(sides), rel, node.lineno, src.snippet(node), rule, spans, scope)

    # ------------------------------------------------------------------ masking
    def _masked_columns(self, c: _Eval) -> set[str] | None:
        if self.masked is None:
            return None
        bound = c.ev.module_binding(self.masked.module, self.masked.name)
        if bound is None or not isinstance(bound[2], ast.Dict):
            return None
        return {k.value for k in bound[2].keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}

    def _renamed_personal(self, src: PySource, node: ast.AST, masked: set[str] | None) -> str | None:
        """A personal column renamed (SQL ``email AS contact``, ``{"contact": r["email"]}``) to a name
        the mask table does not list, in the function around ``node``: masking would miss it."""
        if not masked:
            return None
        fn = next((a for a in src.ancestors(node) if isinstance(a, _FUNCS)), None)
        if fn is None:
            return None
        for sub in walk_nodes(src, (ast.Constant, ast.Dict), fn):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                for m in self.alias.finditer(sub.value):
                    col, alias = m.group(1), m.group(2)
                    if col in masked and alias not in masked:
                        return f"personal column {col!r} renamed to {alias!r}, which masking does not cover"
            elif isinstance(sub, ast.Dict):
                for k, v in zip(sub.keys, sub.values):
                    if (isinstance(k, ast.Constant) and isinstance(k.value, str) and k.value not in masked
                            and isinstance(v, ast.Subscript) and isinstance(v.slice, ast.Constant)
                            and v.slice.value in masked):
                        return f"personal column {v.slice.value!r} copied to {k.value!r}, which masking does not cover"
        return None

    def _hand_masking(self, c: _Eval, table_rel: str, table_src: PySource, table: ast.Dict, side: str):
        """A masker of the table (or a function of its module that a masker calls, like
        ``pseudonymize``) called by an export module itself: the export masks by hand, whatever flag
        it passes — a decision for the side masking favours."""
        module = self.masked.module  # type: ignore[union-attr]
        own = {n.name: n for n in table_src.tree.body if isinstance(n, _FUNCS)}
        maskers = {v.id for v in table.values if isinstance(v, ast.Name) and v.id in own}
        maskers |= {sub.func.id for m in list(maskers) for sub in ast.walk(own[m])
                    if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in own}
        names = NameSet([f"{module}.{m}" for m in sorted(maskers)])
        for rel, src in c.tree.python_files(lambda r: c.states.visible(r) and c.states.relevant(r)):
            if rel == table_rel or c.tree.module_of(rel) in self.bypass_allowed \
                    or not any(w in src.text for w in names.words(src)):
                continue
            counter: dict[str, int] = {}
            for node in walk_nodes(src, ast.Call):
                if names.match(src, node.func) is not None:
                    scope = enclosing(src, node)
                    n = counter[scope] = counter.get(scope, -1) + 1  # keyed by order, not line: edits move lines
                    yield Point(("mask-by-hand", rel, scope, n), frozenset({side}), rel, node.lineno,
                                src.snippet(node), f"{ast.unparse(node.func)}(...) masks a column by hand",
                                ((rel, *span(node)),), (rel, scope))

    def _table_mutations(self, c: _Eval, table_rel: str):
        """The mask table changed at run time from another module (``pii.PII_COLUMNS.pop("email")``,
        ``del PII_COLUMNS["email"]``, ``.clear()``): every anonymised export stops masking."""
        table = NameSet([f"{self.masked.module}.{self.masked.name}"])  # type: ignore[union-attr]
        for rel, src in c.tree.python_files(lambda r: c.states.visible(r) and c.states.relevant(r)):
            if rel == table_rel or self.masked.name not in src.text:  # type: ignore[union-attr]
                continue
            counter: dict[str, int] = {}
            for node in walk_nodes(src, (ast.Call, ast.Delete)):
                if isinstance(node, ast.Call):
                    f = node.func
                    hit = isinstance(f, ast.Attribute) and f.attr in _MUTATORS and table.match(src, f.value)
                else:
                    hit = any(isinstance(t, ast.Subscript) and table.match(src, t.value) for t in node.targets)
                if hit:
                    scope = enclosing(src, node)
                    n = counter[scope] = counter.get(scope, -1) + 1
                    yield Point(("mask-mutated", rel, scope, n), frozenset({self.weak_side}), rel,
                                node.lineno, src.snippet(node), f"{self.masked.name} changed at run time "  # type: ignore[union-attr]
                                "outside its module: exports no longer mask what it drops",
                                ((rel, *span(node)),), (rel, scope))

    def _mask_points(self, c: _Eval, masked: set[str] | None):
        """One point per masked column: removing it from the table, or masking it with an identity
        function, weakens every anonymised export."""
        if self.masked is None or not self.weak_side:
            return
        bound = c.ev.module_binding(self.masked.module, self.masked.name)
        if bound is None or not isinstance(bound[2], ast.Dict):
            return
        rel, src, table = bound
        other = self.sides[1] if self.weak_side == self.sides[0] else self.sides[0]
        for k, v in zip(table.keys, table.values):
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                continue
            identity = isinstance(v, ast.Lambda) and v.args.args and isinstance(v.body, ast.Name) \
                and v.body.id == v.args.args[0].arg
            side = self.weak_side if identity else other
            yield Point(("mask", k.value), frozenset({side}) if identity else frozenset(), rel, k.lineno,
                        src.snippet(k), f"{self.masked.name}[{k.value!r}] " + (
                            "masks nothing (identity)" if identity else "is masked"),
                        ((rel, k.lineno, k.lineno),), (rel, ""))
        yield from self._table_mutations(c, rel)
        yield from self._hand_masking(c, rel, src, table, other)
        # A column dropped from the table is a removed point: report it explicitly.
        before = c.states.before if c.tree is c.states.after else None
        if before is not None:
            old = Evaluator(before).module_binding(self.masked.module, self.masked.name)
            if old is not None and isinstance(old[2], ast.Dict):
                old_keys = {k.value for k in old[2].keys if isinstance(k, ast.Constant)}
                for gone in sorted(old_keys - (masked or set())):
                    yield Point(("mask-removed", gone), frozenset({self.weak_side}), rel, table.lineno,
                                src.snippet(table)[:80], f"personal column {gone!r} removed from "
                                f"{self.masked.name}: exports no longer mask it", (), (rel, ""))


_MUTATORS = frozenset({"pop", "popitem", "clear"})


def _is_partial(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Name) and f.id == "partial") or (isinstance(f, ast.Attribute) and f.attr == "partial")


@register("state.call_keyword")
def build_call_state(spec: DetectorSpec, sides: Sides) -> CallStateDetector:
    p = parse_params(CallStateParams, spec)
    used = [(f"values.{s}", s) for s in p.values]
    used += [(k, v) for k, v in (("bypass_side", p.bypass_side), ("weak_side", p.weak_side)) if v is not None]
    check_sides(spec, sides, used)
    if len(tuple(sides)) != 2:
        raise ValueError(f"detector {spec.id!r}: a scenario has exactly two sides")
    return CallStateDetector(
        id=spec.id, sides=(sides[0], sides[1]), functions=NameSet(p.functions), keyword=p.keyword,
        values=tuple((side, v) for side, vals in p.values.items() for v in vals), positional=p.positional,
        bypass=NameSet(p.bypass_calls), bypass_side=p.bypass_side, bypass_allowed=tuple(p.bypass_allowed),
        masked=p.masked, weak_side=p.weak_side, alias=compile_regex(p.column_alias, "column_alias"),
    )
