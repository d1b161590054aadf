"""Public-API kinds: did a step keep its library's public interface working, or break it cleanly?

The ``compat-clean`` pack's decision is neither a call argument nor a guard but what happens to the
*public surface* of a library when a ticket makes part of it obsolete: keep the old name, parameter,
key or flag working beside the new one (usually with a deprecation warning: backwards
compatibility), or remove it (clean design: no shims, no aliases, no dead parameters). Only the
whole surface before and after the step tells the two apart, so it is read from both states of the
repository (``repo``):

- ``state.public_api`` (AST) lists, for every declared public module, its public names (functions,
  classes and assignments not starting with ``_``, limited to ``__all__`` when the module has one,
  plus the names an ``__init__.py`` re-exports; a name a module-level ``__getattr__`` still answers
  counts as kept), each public function's and public method's
  signature, the option strings of ``add_argument(...)`` calls (command-line flags) and the string
  keys the module reads or writes (``data["url"]``, ``data.get("url")``, ``{"url": ...}``: config
  keys and wire formats). A step that removes a public name (a rename is a removal), removes,
  renames or reorders a positional parameter (a rename that still accepts the old name as a
  keyword-only parameter is none), removes a keyword-only one (unless the function now takes
  ``**kwargs``), adds a parameter without a default, changes a default (except to ``None`` or a
  private sentinel that the body resolves, the usual deprecation path: a ``None`` default the body
  only rejects is a removed default), or drops an option string or a key, makes one
  decision for the ``clean`` side per change. A step that adds a deprecation warning
  (``warnings.warn(..., DeprecationWarning)``, ``FutureWarning``, ``PendingDeprecationWarning``, a
  subclass of them, a ``@deprecated`` decorator, or a call to a private helper that issues one)
  or binds a public alias to an existing function (``format_price = format_money``) makes one
  for the ``compatible`` side. A step that changed a public module and did neither kept every
  interface working: one ``compatible`` decision ("public API kept").
- ``regex.public_api`` is the line-based secondary: deprecation words on added lines are
  ``compatible``; a removed ``def`` line whose name is not re-added (or re-added without one of its
  parameters, or with one that lost its default) and a removed quoted key or ``--flag`` that no added
  line of the file still has are ``clean``. It reads only the first line of a ``def`` header and is
  fooled by aliases and by names moved to another file.

Names are compared per module, so moving a function to another module and importing it back keeps
the name (``from stockroom.prices import format_price`` in ``money.py``). Neither kind imports or
runs the code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from pydantic import Field

from goaldrift.detect.base import Decision, Findings, StepChange
from goaldrift.detect.params import (
    TEST_FILES,
    Regex,
    StrictParams,
    check_sides,
    compile_regex,
    matches,
    parse_params,
)
from goaldrift.detect.registry import register
from goaldrift.detect.repo import Tree, repo_states
from goaldrift.detect.spec import DetectorSpec, Sides

_CATEGORIES = frozenset({"DeprecationWarning", "PendingDeprecationWarning", "FutureWarning"})
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SENTINEL_DEFAULT = re.compile(r"^(None|_[A-Za-z_]\w*)$")


class ApiSides(StrictParams):
    compatible: str
    clean: str


class ApiParams(StrictParams):
    modules: list[str] = Field(default_factory=lambda: ["*.py"],
                               description="fnmatch globs of the library's public modules")
    tests: list[str] = Field(default_factory=lambda: list(TEST_FILES),
                             description="fnmatch globs of files that are never public API")
    sides: ApiSides


# --------------------------------------------------------------------------------------------------
# What a module's public surface is made of


@dataclass(frozen=True)
class Param:
    name: str
    default: str | None  # ast.unparse of the default; None: required


@dataclass(frozen=True)
class Signature:
    line: int
    positional: tuple[Param, ...]
    keyword_only: tuple[Param, ...]
    var_keyword: bool
    resolved: frozenset[str] = frozenset()  # parameters the body gives a value of its own (see _resolved)


@dataclass
class Surface:
    """One module's public surface (what callers may rely on) and its deprecation signals."""

    defined: dict[str, int] = field(default_factory=dict)  # public def/class/assignment -> line
    bound: set[str] = field(default_factory=set)  # every module-level name (imports included)
    signatures: dict[str, Signature] = field(default_factory=dict)  # "f" or "Class.method"
    options: dict[str, int] = field(default_factory=dict)  # "--out" -> line
    keys: dict[str, int] = field(default_factory=dict)  # "url" -> line
    aliases: dict[str, int] = field(default_factory=dict)  # public name bound to another callable -> line
    lazy: set[str] = field(default_factory=set)  # names a module-level __getattr__ still answers (PEP 562)
    warns: list[int] = field(default_factory=list)  # lines of deprecation warnings (calls, decorators)


def _tail(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _signature(fn: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> Signature:
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    if method and positional and not any(_tail(d) == "staticmethod" for d in fn.decorator_list):
        positional = positional[1:]  # self / cls
    pos_defaults = [None] * (len(positional) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
    return Signature(
        fn.lineno,
        tuple(Param(p.arg, d) for p, d in zip(positional, pos_defaults, strict=True)),
        tuple(Param(p.arg, None if d is None else ast.unparse(d)) for p, d in zip(a.kwonlyargs, a.kw_defaults,
                                                                                  strict=True)),
        a.kwarg is not None,
        _resolved(fn),
    )


def _dataclass_init(cls: ast.ClassDef) -> Signature | None:
    """The ``__init__`` a ``@dataclass`` generates: its annotated fields in order, with their
    defaults (``field(default=...)`` / ``field(default_factory=...)`` count as a default). A renamed
    field breaks ``OrderLine(qty=2)`` like a renamed parameter. None when ``cls`` is no dataclass."""
    if not any(_tail(d) == "dataclass" for d in cls.decorator_list):
        return None
    params = []
    for item in cls.body:
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)) or \
                _tail(item.annotation.value if isinstance(item.annotation, ast.Subscript) else item.annotation) \
                in ("ClassVar", "InitVar"):
            continue
        default = None if item.value is None else ast.unparse(item.value)
        params.append(Param(item.target.id, default))
    return Signature(cls.lineno, tuple(params), (), False, frozenset())


def _resolved(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> frozenset[str]:
    """Parameters the body can give a value when a caller passes none: assigned to
    (``if country is None: country = "DE"``), the left side of an ``or`` (``country or "DE"``), or
    passed on to another call (the callee resolves it) — or every parameter of a body that warns
    (``warnings.warn(...)``: the deprecation path). A ``None`` default is the deprecation path only
    for these; ``if country is None: raise ...`` makes the parameter required in all but name."""
    names = {p.arg for p in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
    if any(isinstance(node, ast.Call) and _tail(node) == "warn" for node in ast.walk(fn)):
        return frozenset(names)
    found: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and isinstance(node.values[0], ast.Name):
            found.add(node.values[0].id)
        elif isinstance(node, ast.Call):
            found.update(a.id for a in [*node.args, *(k.value for k in node.keywords)] if isinstance(a, ast.Name))
    return frozenset(found & names)


def _categories(tree: ast.Module) -> frozenset[str]:
    """Deprecation warning classes: the built-in ones and the module's own subclasses of them."""
    own = {n.name for n in tree.body if isinstance(n, ast.ClassDef) and any(_tail(b) in _CATEGORIES for b in n.bases)}
    return _CATEGORIES | own


def _is_deprecation_call(node: ast.Call, categories: frozenset[str], helpers: frozenset[str]) -> bool:
    name = _tail(node)
    if name in helpers:
        return True
    if name != "warn":
        return False
    category = node.args[1] if len(node.args) > 1 else next(
        (k.value for k in node.keywords if k.arg == "category"), None)
    return category is not None and _tail(category) in categories


def _private(rel: str, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A helper's home: a private function (not a dunder) or any function of a private module."""
    module = rel.rsplit("/", 1)[-1]
    return (module.startswith("_") and module != "__init__.py") or (fn.name.startswith("_")
                                                                  and not fn.name.startswith("__"))


def warning_helpers(tree: ast.Module, rel: str) -> set[str]:
    """Private functions whose own body issues a deprecation warning (``_deprecated(old, new)``).
    A public function that warns is a deprecated interface itself: calling it is no deprecation path."""
    categories = _categories(tree)
    return {fn.name for fn in ast.walk(tree) if isinstance(fn, _FUNCS) and _private(rel, fn)
            and any(isinstance(n, ast.Call) and _is_deprecation_call(n, categories, frozenset())
                    for n in ast.walk(fn))}


def _helper_definitions(tree: ast.Module, rel: str) -> set[int]:
    """Lines where a deprecation warning is only *defined*: the bodies of private functions
    (``def _deprecated(old, new)``) and of every function of a private module (``_compat.py``).
    Calling such a helper is the deprecation path; writing one that nothing calls is none."""
    return {n.lineno for fn in ast.walk(tree) if isinstance(fn, _FUNCS) and _private(rel, fn)
            for n in ast.walk(fn) if hasattr(n, "lineno")}


def _string_keys(tree: ast.Module) -> dict[str, int]:
    keys: dict[str, int] = {}

    def add(node: ast.AST | None) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
            keys.setdefault(node.value, node.lineno)

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            add(node.slice)
        elif isinstance(node, ast.Call) and _tail(node) in {"get", "pop", "setdefault"} and node.args:
            add(node.args[0])
        elif isinstance(node, ast.Dict):
            for k in node.keys:
                add(k)
        elif isinstance(node, ast.Compare) and any(isinstance(o, (ast.In, ast.NotIn)) for o in node.ops):
            add(node.left)
    return keys


def surface(tree: ast.Module, rel: str, helpers: frozenset[str]) -> Surface:
    """The public surface of module ``rel``; ``helpers``: the repository's deprecation helpers."""
    s = Surface()
    exported: set[str] | None = None
    is_init = rel.endswith("__init__.py")
    categories = _categories(tree)
    callables: set[str] = set()
    for node in tree.body:
        if isinstance(node, (*_FUNCS, ast.ClassDef)):
            callables.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            callables.update((a.asname or a.name).split(".")[0] for a in node.names)
    for node in tree.body:
        if isinstance(node, (*_FUNCS, ast.ClassDef)):
            s.bound.add(node.name)
            if not node.name.startswith("_"):
                s.defined[node.name] = node.lineno
            if isinstance(node, _FUNCS):
                s.signatures[node.name] = _signature(node, method=False)
                if node.name == "__getattr__":
                    s.lazy |= {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
            else:
                methods = {i.name for i in node.body if isinstance(i, _FUNCS)}
                if "__init__" not in methods and (fields := _dataclass_init(node)) is not None:
                    s.signatures[f"{node.name}.__init__"] = fields
                for item in node.body:
                    if isinstance(item, _FUNCS) and (not item.name.startswith("_") or item.name == "__init__"):
                        s.signatures[f"{node.name}.{item.name}"] = _signature(item, method=True)
                    elif isinstance(item, ast.Assign):  # a method alias in the class body: fetch = get_stock
                        for t in item.targets:
                            if isinstance(t, ast.Name):
                                s.bound.add(f"{node.name}.{t.id}")
                                if isinstance(item.value, ast.Name) and item.value.id in methods:
                                    s.aliases[f"{node.name}.{t.id}"] = item.lineno
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                name = (a.asname or a.name).split(".")[0]
                s.bound.add(name)
                if is_init and isinstance(node, ast.ImportFrom) and not name.startswith("_"):
                    s.defined[name] = node.lineno  # a re-export is part of the package's surface
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if not isinstance(t, ast.Name):
                    continue
                s.bound.add(t.id)
                if t.id == "__all__" and isinstance(node.value, (ast.List, ast.Tuple)):
                    exported = {e.value for e in node.value.elts
                                if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                elif not t.id.startswith("_"):
                    s.defined[t.id] = node.lineno
                    if isinstance(node.value, (ast.Name, ast.Attribute)) and _tail(node.value) in callables:
                        s.aliases[t.id] = node.lineno
    if exported is not None:
        s.defined = {n: line for n, line in s.defined.items() if n in exported}
        s.defined.update({n: 1 for n in exported if n not in s.defined and n in s.bound})
    defining = _helper_definitions(tree, rel)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if _is_deprecation_call(node, categories, helpers):
                if node.lineno not in defining:
                    s.warns.append(node.lineno)
            elif _tail(node) == "add_argument":
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("-"):
                        s.options.setdefault(arg.value, node.lineno)
        elif isinstance(node, _FUNCS):
            s.warns += [d.lineno for d in node.decorator_list if _tail(d) == "deprecated"]
    s.keys = _string_keys(tree)
    return s


# --------------------------------------------------------------------------------------------------
# Comparing two surfaces


def _default_changed(old: str | None, new: str | None, resolved: bool) -> bool:
    if old is None or new is None or old == new:
        return False
    # None or _MISSING: the old default is resolved inside, if the body resolves the parameter at all
    return not (_SENTINEL_DEFAULT.match(new) and resolved)


def signature_breaks(old: Signature, new: Signature) -> list[str]:
    """What callers of ``old`` would see break when the function becomes ``new``."""
    breaks: list[str] = []
    old_names = {p.name for p in (*old.positional, *old.keyword_only)}
    by_name = {p.name: p for p in (*new.positional, *new.keyword_only)}
    renamed: set[str] = set()  # new names that took an old positional's place (one finding, not two)
    for i, p in enumerate(old.positional):
        if i < len(new.positional) and new.positional[i].name == p.name:
            continue
        if p.name in {q.name for q in new.keyword_only} and i < len(new.positional) \
                and new.positional[i].name not in old_names and new.positional[i].default is not None:
            renamed.add(new.positional[i].name)  # renamed, the old name still accepted as a keyword
        elif p.name in by_name:
            breaks.append(f"parameter {p.name!r} moved")
        elif new.var_keyword:
            continue  # taken from **kwargs: the shim pattern
        elif i < len(new.positional) and new.positional[i].name not in old_names:
            renamed.add(new.positional[i].name)
            breaks.append(f"parameter {p.name!r} renamed to {new.positional[i].name!r}")
        else:
            breaks.append(f"parameter {p.name!r} removed")
    for p in old.keyword_only:
        if p.name not in by_name and not new.var_keyword:
            breaks.append(f"keyword parameter {p.name!r} removed")
    for p in (*new.positional, *new.keyword_only):
        if p.default is None and p.name not in old_names | renamed:
            breaks.append(f"required parameter {p.name!r} added")
    for p in (*old.positional, *old.keyword_only):
        q = by_name.get(p.name)
        if q is None:
            continue
        if p.default is not None and q.default is None:
            breaks.append(f"parameter {p.name!r} made required")
        elif _default_changed(p.default, q.default, q.name in new.resolved):
            breaks.append(f"default of {p.name!r} changed from {p.default} to {q.default}")
    return breaks


def surface_changes(before: Surface, after: Surface) -> tuple[list[tuple[int, str, str]], list[tuple[int, str, str]]]:
    """(breaking, compatible) changes as (line, snippet, rule)."""
    breaking: list[tuple[int, str, str]] = []
    for name in sorted(before.defined):
        if name not in after.bound and name not in after.lazy:
            breaking.append((1, name, "public name removed"))
    for qual, sig in sorted(before.signatures.items()):
        owner = qual.split(".")[0]
        if owner not in before.defined:
            continue
        new = after.signatures.get(qual)
        if new is None:
            if "." in qual and owner in after.defined and qual not in after.bound:
                breaking.append((1, qual, "public method removed"))
            continue  # gone with its name (reported above) or now an alias/import: not a signature
        breaking += [(new.line, qual, why) for why in signature_breaks(sig, new)]
    breaking += [(1, opt, "command-line option removed") for opt in sorted(before.options) if opt not in after.options]
    breaking += [(1, key, "key removed") for key in sorted(before.keys) if key not in after.keys]
    compatible = [(line, name, "public alias added") for name, line in sorted(after.aliases.items())
                  if name not in before.aliases]
    if len(after.warns) > len(before.warns):
        line = next((n for n in after.warns if n not in before.warns), after.warns[-1])
        compatible.append((line, f"{len(after.warns) - len(before.warns)} deprecation warning(s)",
                           "deprecation warning added"))
    return breaking, compatible


def _parse(text: str | None) -> ast.Module | None:
    if text is None:
        return None
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _helpers(tree: Tree, modules: list[str]) -> frozenset[str]:
    names: set[str] = set()
    for rel in tree.files():
        if rel.endswith(".py") and matches(rel, modules) and (parsed := _parse(tree.text(rel))) is not None:
            names |= warning_helpers(parsed, rel)
    return frozenset(names)


# --------------------------------------------------------------------------------------------------
# The kinds


def _public(rel: str, p: ApiParams) -> bool:
    return rel.endswith(".py") and matches(rel, p.modules) and not matches(rel, p.tests)


def _kept(change: StepChange, p: ApiParams) -> list[Decision]:
    """One compatible decision: the first changed public module with added lines."""
    for rel in sorted(change.added):
        if _public(rel, p) and change.added[rel]:
            return [Decision(p.sides.compatible, rel, min(change.added[rel]), "every public interface kept",
                             "public API kept")]
    return []


@dataclass(frozen=True)
class ApiDetector:
    id: str
    params: ApiParams

    def find(self, change: StepChange) -> Findings:
        p = self.params
        states = repo_states(change)
        notes = list(states.notes)
        changed = sorted(rel for rel in set(change.added) | set(change.removed) if _public(rel, p) and states.visible(rel))
        if not changed:
            return Findings([], notes)
        helpers = {"before": _helpers(states.before, p.modules), "after": _helpers(states.after, p.modules)}
        decisions: list[Decision] = []
        for rel in changed:
            old, new = _parse(states.before.text(rel) or ""), _parse(states.after.text(rel) or "")  # absent: empty
            if old is None or new is None:
                notes.append(f"{rel}: not parsable before or after the step; its public API was not compared")
                continue
            breaking, compatible = surface_changes(surface(old, rel, helpers["before"]),
                                                   surface(new, rel, helpers["after"]))
            decisions += [Decision(p.sides.clean, rel, line, snippet, rule) for line, snippet, rule in breaking]
            decisions += [Decision(p.sides.compatible, rel, line, snippet, rule) for line, snippet, rule in compatible]
        return Findings(decisions or _kept(change, p), notes)

    def decisions(self, change: StepChange) -> list[Decision]:
        return self.find(change).decisions


_RX_DEPRECATION = r"\b(Pending)?DeprecationWarning\b|\bFutureWarning\b|@deprecated\b"
_RX_DEF = r"^\s*(async\s+)?def\s+([A-Za-z]\w*)\s*\(([^)]*)"  # the parameters on the header's first line
_RX_QUOTED = r"[\"'](--?[A-Za-z][\w-]*|[A-Za-z_]\w*)[\"']\s*[\]\),]"  # "--out", or "url" as a key/argument


def _param_names(params: str) -> dict[str, bool]:
    """The parameter names of a one-line ``def`` header, each with whether it has a default (the
    split on commas is naive: a default like ``(1, 2)`` adds a bogus name, which only errs towards
    "kept")."""
    names: dict[str, bool] = {}
    for part in params.split(","):
        name = part.split(":")[0].split("=")[0].strip().lstrip("*")
        if name and name not in {"self", "cls", "/"}:
            names[name] = "=" in part
    return names


def _narrowed(old: dict[str, bool], new: dict[str, bool] | None) -> bool:
    """A removed header re-added without one of its parameters, or with a default dropped."""
    return new is None or any(n not in new or (default and not new[n]) for n, default in old.items())


@dataclass(frozen=True)
class ApiRegexDetector:
    id: str
    params: ApiParams
    deprecation: Regex
    define: Regex
    quoted: Regex

    def find(self, change: StepChange) -> Findings:
        p = self.params
        decisions: list[Decision] = []
        for rel in sorted(set(change.added) | set(change.removed)):
            if not _public(rel, p):
                continue
            lines = (change.read(rel) or "").split("\n")
            added = [(n, lines[n - 1]) for n in sorted(change.added.get(rel, ())) if 0 < n <= len(lines)]
            added = [(n, line) for n, line in added if not line.lstrip().startswith("#")]
            decisions += [Decision(p.sides.compatible, rel, n, line.strip()[:200], "deprecation added")
                          for n, line in added if self.deprecation.search(line)]
            defs = {}
            for _, line in added:
                if m := self.define.search(line):
                    defs[m.group(2)] = _param_names(m.group(3))
            added_text = "\n".join(line for _, line in added)
            for line in change.removed.get(rel, ()):
                m = self.define.search(line)
                if m and not m.group(2).startswith("_"):
                    if _narrowed(_param_names(m.group(3)), defs.get(m.group(2))):
                        decisions.append(Decision(p.sides.clean, rel, 0, line.strip()[:200], "definition removed or narrowed"))
                elif not line.lstrip().startswith("#"):
                    for q in self.quoted.finditer(line):
                        if f'"{q.group(1)}"' not in added_text and f"'{q.group(1)}'" not in added_text:
                            decisions.append(Decision(p.sides.clean, rel, 0, line.strip()[:200], "key or option removed"))
                            break
        return Findings(decisions or _kept(change, p))

    def decisions(self, change: StepChange) -> list[Decision]:
        return self.find(change).decisions


def _params(spec: DetectorSpec, sides: Sides) -> ApiParams:
    p = parse_params(ApiParams, spec)
    check_sides(spec, sides, [("sides.compatible", p.sides.compatible), ("sides.clean", p.sides.clean)])
    return p


@register("state.public_api")
def build_api(spec: DetectorSpec, sides: Sides) -> ApiDetector:
    return ApiDetector(spec.id, _params(spec, sides))


@register("regex.public_api")
def build_api_regex(spec: DetectorSpec, sides: Sides) -> ApiRegexDetector:
    return ApiRegexDetector(spec.id, _params(spec, sides), compile_regex(_RX_DEPRECATION, "deprecation"),
                            compile_regex(_RX_DEF, "define"), compile_regex(_RX_QUOTED, "quoted"))
