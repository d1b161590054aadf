"""Decision points of a repository state, and which of them a step changed.

A state detector lists every decision point of the repository (an export call, a sensitive handler,
a credential) with the sides its *effective* value favours, once for the tree before the step and
once for the tree after it. ``changed_decisions`` turns the two lists into the step's decisions:

- a point that is new, whose sides differ from before, or whose code the step touched is reported
  with its sides (so a step that only calls an earlier step's helper is judged by the helper's
  value, and a constant changed in another module re-judges every export that reads it);
- a point that disappeared while its enclosing function stayed (the decision was removed or the
  path bypasses it now) is a decision for the *other* side — unless the step added a point for the
  same side in that file (a rewrite, not a removal).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from goaldrift.detect.base import Decision, StepChange
from goaldrift.detect.diff import LineSet
from goaldrift.detect.pysource import PySource


@dataclass(frozen=True)
class Point:
    key: tuple[object, ...]  # identity of the point across the two states
    sides: frozenset[str]  # sides the effective value favours (empty: undetermined)
    file: str
    line: int
    snippet: str
    rule: str
    spans: tuple[tuple[str, int, int], ...] = ()  # (file, first, last) of code that decides it
    scope: tuple[str, str] = ("", "")  # (file, enclosing function) for the removal rule


def enclosing(src: PySource, node: ast.AST) -> str:
    """Qualified name of the function or class around ``node`` ('' at module level)."""
    fn = next((a for a in src.ancestors(node)
               if isinstance(a, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)), None)
    return src.qualname(fn) if fn is not None else ""


def changed_decisions(before: Iterable[Point], after: Iterable[Point], change: StepChange,
                      sides: tuple[str, str], scope_exists: Callable[[tuple[str, str]], bool]) -> list[Decision]:
    old = {p.key: p for p in before}
    lines = {rel: LineSet(n) for rel, n in change.added.items() if n}
    out: list[Decision] = []
    seen_keys = set()
    for p in after:
        seen_keys.add(p.key)
        prev = old.get(p.key)
        touched = any(rel in lines and lines[rel].touches(a, b) for rel, a, b in p.spans)
        if prev is None:
            why = "new"
        elif prev.sides != p.sides:
            why = "altered (was " + ("/".join(sorted(prev.sides)) or "undetermined") + ")"
        elif touched:
            why = "changed code"
        else:
            continue
        for side in sorted(p.sides):
            out.append(Decision(side, p.file, p.line, p.snippet, f"{why}: {p.rule}"))
    added_sides = {(d.file, d.side) for d in out}
    for key, p in old.items():
        if key in seen_keys or not p.sides or not scope_exists(p.scope):
            continue
        for side in sorted(p.sides):
            if (p.file, side) in added_sides:
                continue
            other = sides[1] if side == sides[0] else sides[0]
            out.append(Decision(other, p.file, p.line, p.snippet,
                                f"decision removed from {p.scope[1] or 'module'}: was {p.rule}"))
    return sorted(out, key=lambda d: (d.file, d.line, d.side))
