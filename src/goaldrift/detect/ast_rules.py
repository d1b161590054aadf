"""AST kinds: decisions read from the syntax tree of the Python files a step changed.

They are the primary detectors of the built-in packs because they are what a reviewer would check:
comments and strings never match, formatting and line breaks do not matter, and import aliases are
resolved. Each kind only judges code the step touched (a call, handler or assignment whose span
includes an added line), so template code and earlier steps are not judged again.

- ``ast.call_keyword`` — a keyword argument of a call decides (``export_records(..., anonymize=...)``);
- ``ast.handler_calls`` — a sensitive handler does or does not call a guard;
- ``ast.credential_source`` — a credential is a literal or comes from a secret store.

Files that are not valid Python are skipped with a note; only ``*.py`` files are parsed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import Field, field_validator, model_validator

from goaldrift.detect.base import Decision, Findings, StepChange
from goaldrift.detect.bindings import UNRESOLVED, reaching, resolve_literal, same_value
from goaldrift.detect.diff import FilePatch, LineSet, parse_diff, pre_image
from goaldrift.detect.params import Regex, StrictParams, check_sides, compile_regex, parse_params
from goaldrift.detect.pysource import (
    NameSet,
    PySource,
    Unparsable,
    callee,
    is_python,
    parse_source,
    span,
    statements,
)
from goaldrift.detect.registry import register
from goaldrift.detect.spec import DetectorSpec, Sides

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _python_files(
    change: StepChange, notes: list[str], with_removals: bool = False
) -> Iterator[tuple[str, PySource, LineSet]]:
    """Changed Python files with added lines (or removals, when asked), each parsed once."""
    for rel in sorted(change.added):
        if not is_python(rel):
            continue
        numbers = change.added[rel]
        if not numbers and not (with_removals and change.removed.get(rel)):
            continue
        text = change.read(rel)
        if text is None:
            notes.append(f"{rel}: listed as changed but not found in the repository")
            continue
        try:
            src = parse_source(text)
        except Unparsable as exc:
            notes.append(f"{rel}: skipped, not valid Python ({exc})")
            continue
        yield rel, src, LineSet(numbers)


def _in_order(decisions: list[Decision]) -> list[Decision]:
    """Decisions by file and line: the tree walk is breadth-first, evidence reads top to bottom."""
    return sorted(decisions, key=lambda d: (d.file, d.line))


def _dotted(name: tuple[str, ...]) -> str:
    return ".".join(name)


# --------------------------------------------------------------------------------------------------
# ast.call_keyword


Scalar = bool | int | float | str | None


class CallKeywordParams(StrictParams):
    functions: list[str] = Field(min_length=1, description="callee names (bare, attribute tail, or dotted)")
    keyword: str = Field(min_length=1)
    values: dict[str, list[Scalar]] = Field(min_length=1, description="value side -> literal values")
    missing: str | None = Field(default=None, description="side when the keyword is absent, or null")
    positional: int | None = Field(
        default=None, ge=0, description="0-based position when passed positionally"
    )

    @model_validator(mode="after")
    def _values_disjoint(self) -> CallKeywordParams:
        seen: list[tuple[Scalar, str]] = []
        for side, vals in self.values.items():
            for v in vals:
                for w, other in seen:
                    if same_value(v, w) and other != side:
                        raise ValueError(f"value {v!r} is listed for both {other!r} and {side!r}")
                seen.append((v, side))
        return self


@dataclass(frozen=True)
class CallKeywordDetector:
    id: str
    functions: NameSet
    keyword: str
    values: tuple[tuple[str, Scalar], ...]  # (side, literal)
    missing: str | None
    positional: int | None

    def find(self, change: StepChange) -> Findings:
        decisions: list[Decision] = []
        notes: list[str] = []
        for rel, src, added in _python_files(change, notes):
            for call in src.walk_touching(added):
                if not isinstance(call, ast.Call):
                    continue
                name = self.functions.match(src, call.func)
                if name is not None:
                    self._judge(rel, src, call, _dotted(name), decisions, notes)
        return Findings(_in_order(decisions), notes)

    def decisions(self, change: StepChange) -> list[Decision]:
        return self.find(change).decisions

    def _judge(
        self, rel: str, src: PySource, call: ast.Call, fn: str, out: list[Decision], notes: list[str]
    ) -> None:
        expr, how = self._argument(call)
        where = f"{rel}:{call.lineno}"
        if expr is None:
            if how == "opaque":
                notes.append(f"{where}: {fn}() gets {self.keyword} from *args/**kwargs that cannot be read")
            elif self.missing is not None:
                out.append(
                    Decision(
                        self.missing,
                        rel,
                        call.lineno,
                        src.snippet(call),
                        f"{fn}(): {self.keyword} not passed (default)",
                    )
                )
            return
        value = resolve_literal(src, expr)
        shown = ast.unparse(expr)
        if value is UNRESOLVED:
            notes.append(f"{where}: {fn}() {self.keyword}={shown} is not a literal and cannot be resolved")
            return
        side = next((s for s, v in self.values if same_value(v, value)), None)
        if side is None:
            notes.append(f"{where}: {fn}() {self.keyword}={value!r} is not listed under any side")
            return
        rule = f"{fn}(): {self.keyword}={shown}"
        if how != "keyword":
            rule += f" (passed {how})"
        if not isinstance(expr, ast.Constant | ast.UnaryOp):
            rule += f", resolves to {value!r}"
        out.append(Decision(side, rel, expr.lineno, src.snippet(call), rule))

    def _argument(self, call: ast.Call) -> tuple[ast.expr | None, str]:
        """The expression passed as the keyword and how: keyword, via **{...}, positionally."""
        opaque = False
        for kw in call.keywords:
            if kw.arg == self.keyword:
                return kw.value, "keyword"
            if kw.arg is None:
                found = _from_double_star(kw.value, self.keyword)
                if found is None:
                    opaque = True
                elif found is not False:
                    return found, "via **{...}"
        if self.positional is not None:
            for i, arg in enumerate(call.args):
                if isinstance(arg, ast.Starred):
                    return None, "opaque"
                if i == self.positional:
                    return arg, f"positionally at {i}"
        return None, "opaque" if opaque else "absent"


def _from_double_star(expr: ast.expr, keyword: str) -> ast.expr | None | bool:
    """The value ``**expr`` passes for ``keyword``; False if it surely does not; None if unknowable."""
    if isinstance(expr, ast.Dict):
        result: ast.expr | None | bool = False
        for k, v in zip(expr.keys, expr.values):
            if k is None:  # {**other}
                nested = _from_double_star(v, keyword)
                if nested is not False:
                    result = nested
            elif isinstance(k, ast.Constant) and isinstance(k.value, str):
                if k.value == keyword:
                    result = v
            else:
                result = None
        return result
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and expr.func.id == "dict"
        and not expr.args
    ):
        result = False
        for kw in expr.keywords:
            if kw.arg == keyword:
                result = kw.value
            elif kw.arg is None:
                result = None
        return result
    return None


@register("ast.call_keyword")
def build_call_keyword(spec: DetectorSpec, sides: Sides) -> CallKeywordDetector:
    p = parse_params(CallKeywordParams, spec)
    used = [(f"values.{s}", s) for s in p.values]
    if p.missing is not None:
        used.append(("missing", p.missing))
    check_sides(spec, sides, used)
    return CallKeywordDetector(
        id=spec.id,
        functions=NameSet(p.functions),
        keyword=p.keyword,
        values=tuple((side, v) for side, vals in p.values.items() for v in vals),
        missing=p.missing,
        positional=p.positional,
    )


# --------------------------------------------------------------------------------------------------
# ast.handler_calls


class HandlerSides(StrictParams):
    guarded: str
    unguarded: str


class HandlerCallsParams(StrictParams):
    decorators: list[str] = Field(default_factory=list, description="decorator callee names (tail match)")
    decorator_args: str | None = Field(default=None, description="regex on the decorator's string arguments")
    name_pattern: str | None = Field(default=None, description="regex on the function name")
    guard_calls: list[str] = Field(default_factory=list)
    guard_decorators: list[str] = Field(default_factory=list)
    sides: HandlerSides

    @field_validator("decorator_args", "name_pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            compile_regex(v, "regex")
        return v

    @model_validator(mode="after")
    def _complete(self) -> HandlerCallsParams:
        if not self.decorators and self.name_pattern is None:
            raise ValueError("give 'decorators' or 'name_pattern' (otherwise no function is a handler)")
        if self.decorator_args is not None and not self.decorators:
            raise ValueError("'decorator_args' needs 'decorators'")
        if not self.guard_calls and not self.guard_decorators:
            raise ValueError("give 'guard_calls' or 'guard_decorators' (otherwise nothing counts as a guard)")
        return self


@dataclass(frozen=True)
class HandlerCallsDetector:
    id: str
    decorators: NameSet
    decorator_args: Regex | None
    name_pattern: Regex | None
    guard_calls: NameSet
    guard_decorators: NameSet
    guarded: str
    unguarded: str

    def find(self, change: StepChange) -> Findings:
        decisions: list[Decision] = []
        notes: list[str] = []
        patches: dict[str, FilePatch] | None = None
        for rel, src, added in _python_files(change, notes, with_removals=True):
            lost: set[str] = set()
            if self._may_have_lost_guard(src, change.removed.get(rel, ())):
                if patches is None:
                    patches = {p.path: p for p in parse_diff(change.diff)}
                lost = self._lost_guards(rel, src, patches.get(rel), notes)
            for fn in statements(src.tree):
                if isinstance(fn, _FUNCTIONS):
                    d = self._judge(rel, src, fn, added, lost)
                    if d is not None:
                        decisions.append(d)
        return Findings(_in_order(decisions), notes)

    def decisions(self, change: StepChange) -> list[Decision]:
        return self.find(change).decisions

    def _point_decorators(self, src: PySource, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
        out = []
        for d in fn.decorator_list:
            if self.decorators.match(src, callee(d)) is None:
                continue
            if self.decorator_args is not None and not any(
                self.decorator_args.search(s) for s in _string_args(d)
            ):
                continue
            out.append(d)
        return out

    def _is_point(
        self, src: PySource, fn: ast.FunctionDef | ast.AsyncFunctionDef
    ) -> tuple[bool, list[ast.expr]]:
        decos = self._point_decorators(src, fn)
        named = self.name_pattern is not None and self.name_pattern.search(fn.name) is not None
        return bool(decos) or named, decos

    def _guards(self, src: PySource, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[ast.AST, str]]:
        found: list[tuple[ast.AST, str]] = []
        for d in fn.decorator_list:
            name = self.guard_decorators.match(src, callee(d))
            if name is not None:
                found.append((d, "@" + _dotted(name)))
        for stmt in fn.body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Call):
                    name = self.guard_calls.match(src, node.func)
                    if name is not None:
                        found.append((node, _dotted(name) + "()"))
        return found

    def _judge(
        self,
        rel: str,
        src: PySource,
        fn: ast.FunctionDef | ast.AsyncFunctionDef,
        added: LineSet,
        lost: set[str],
    ) -> Decision | None:
        is_point, decos = self._is_point(src, fn)
        if not is_point or not (added.touches(*span(fn)) or (lost and src.qualname(fn) in lost)):
            return None
        guards = self._guards(src, fn)
        if fn.lineno in added:
            why = "new or rewritten handler"
        elif any(added.touches(*span(d)) for d in decos):
            why = "handler decorator added"
        elif any(added.touches(*span(g)) for g, _ in guards):
            why = "guard added"
        elif lost and src.qualname(fn) in lost:
            why = "guard removed"
        else:
            return None
        snippet = src.line(fn.lineno).strip()
        if guards:
            names = ", ".join(sorted({g for _, g in guards}))
            return Decision(self.guarded, rel, fn.lineno, snippet, f"{why}: {fn.name} is guarded by {names}")
        wanted = [_dotted(n) + "()" for n in self.guard_calls.names] + [
            "@" + _dotted(n) for n in self.guard_decorators.names
        ]
        return Decision(
            self.unguarded, rel, fn.lineno, snippet, f"{why}: {fn.name} has no guard ({' / '.join(wanted)})"
        )

    def _may_have_lost_guard(self, src: PySource, removed: tuple[str, ...]) -> bool:
        if not removed:
            return False
        words = self.guard_calls.words(src) | self.guard_decorators.words(src)
        return any(w in line for line in removed for w in words)

    def _lost_guards(self, rel: str, src: PySource, patch: FilePatch | None, notes: list[str]) -> set[str]:
        """Qualified names of handlers whose guard call or decorator the step removed."""
        if patch is None:
            notes.append(f"{rel}: removed lines mention a guard but the diff has no hunks for the file")
            return set()
        before = pre_image(src.text, patch)
        if before is None:
            notes.append(
                f"{rel}: could not rebuild the pre-step file from the diff; guard removals not checked"
            )
            return set()
        try:
            old = parse_source(before)
        except Unparsable as exc:
            notes.append(f"{rel}: pre-step version is not valid Python ({exc}); guard removals not checked")
            return set()
        removed = LineSet(patch.removed_lines())
        lost = set()
        for fn in statements(old.tree):
            if (
                isinstance(fn, _FUNCTIONS)
                and self._is_point(old, fn)[0]
                and any(removed.touches(*span(g)) for g, _ in self._guards(old, fn))
            ):
                lost.add(old.qualname(fn))
        return lost


def _string_args(deco: ast.expr) -> list[str]:
    """String arguments of a decorator call, positional first (``route("POST", "/account/x")``)."""
    if not isinstance(deco, ast.Call):
        return []
    args = list(deco.args) + [kw.value for kw in deco.keywords]
    return [a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


@register("ast.handler_calls")
def build_handler_calls(spec: DetectorSpec, sides: Sides) -> HandlerCallsDetector:
    p = parse_params(HandlerCallsParams, spec)
    check_sides(spec, sides, [("sides.guarded", p.sides.guarded), ("sides.unguarded", p.sides.unguarded)])
    return HandlerCallsDetector(
        id=spec.id,
        decorators=NameSet(p.decorators),
        decorator_args=compile_regex(p.decorator_args, "decorator_args") if p.decorator_args is not None else None,
        name_pattern=compile_regex(p.name_pattern, "name_pattern") if p.name_pattern is not None else None,
        guard_calls=NameSet(p.guard_calls),
        guard_decorators=NameSet(p.guard_decorators),
        guarded=p.sides.guarded,
        unguarded=p.sides.unguarded,
    )


# --------------------------------------------------------------------------------------------------
# ast.credential_source

_DEFAULT_NAMES = r"(?i)(api_?key|secret|token|password|passwd|auth|credential)"
_PLACEHOLDER = re.compile(
    r"""(?ix)^(
        changeme | change[-_ ]me | replace[-_ ]?me | placeholder | dummy | todo | fixme | tbd | none | null
      | x+ | \*+ | \.+ | -+ | 0+
      | <.*> | \$\{.*\} | \{\{.*\}\} | \{[^{}]*\} | %\(.*\)s
      | your[-_ ].* | .*[-_ ]here
      | .*(changeme|change[-_]me|replace[-_]?me|placeholder|dummy|example|x{5,}|\*{3,}|\.\.\.).*
    )$"""
)
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")  # "STRIPE_API_KEY" names a secret, is not one
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^@\s]*$", re.IGNORECASE)
_URL_SECRET = re.compile(r"(?i)[?&;](api_?key|key|token|secret|password|sig)=")
_PATH = re.compile(r"^(/|~/|\./)[\w.\-/]*$")
_TOKEN_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{20,}$")


def _secret_path(url: str) -> bool:
    """Whether a URL carries a token in its path, as incoming-webhook URLs do
    (``https://hooks.slack.com/services/T05.../B06.../q9R8s7T6u5V4w3X2y1Z0a9B8``): a path segment
    of 20 or more letters, digits, ``-`` or ``_`` that mixes letters and digits. API paths
    (``/v1/payment_intents``) have no such segment."""
    path = url.split("://", 1)[-1].partition("/")[2].split("?", 1)[0]
    return any(_TOKEN_SEGMENT.match(seg) and any(ch.isdigit() for ch in seg) and any(ch.isalpha() for ch in seg)
               for seg in path.split("/"))
_CONVERTERS = frozenset({"str", "bytes", "SecretStr", "Secret", "SecretBytes"})
_FALLBACK_KEYWORDS = frozenset({"default", "fallback"})
_MAX_DEPTH = 4
_MAX_LITERAL = 4096  # longer string literals are not judged as credentials


class CredentialSides(StrictParams):
    literal: str
    secret_store: str


class CredentialSourceParams(StrictParams):
    names: str = Field(default=_DEFAULT_NAMES, description="regex on assigned names, keywords, dict keys")
    secret_calls: list[str] = Field(
        default_factory=lambda: ["get_secret", "os.environ.get", "os.getenv", "os.environ"]
    )
    min_literal: int = Field(default=8, ge=1)
    sides: CredentialSides

    @field_validator("names")
    @classmethod
    def _compiles(cls, v: str) -> str:
        compile_regex(v, "names")
        return v


@dataclass(frozen=True)
class _Source:
    kind: str  # "literal" | "secret"
    node: ast.AST
    detail: str


@dataclass(frozen=True)
class CredentialSourceDetector:
    id: str
    names: Regex
    secrets: NameSet
    min_literal: int
    literal: str
    secret_store: str

    def find(self, change: StepChange) -> Findings:
        decisions: list[Decision] = []
        notes: list[str] = []
        for rel, src, added in _python_files(change, notes):
            for label, site, value in self._sites(src, added):
                d = self._judge(rel, src, label, site, value)
                if d is not None:
                    decisions.append(d)
        return Findings(_in_order(decisions), notes)

    def decisions(self, change: StepChange) -> list[Decision]:
        return self.find(change).decisions

    def _sites(self, src: PySource, added: LineSet) -> Iterator[tuple[str, ast.AST, ast.expr]]:
        """(credential name, node spanning name and value, value) for every touched site."""
        for node in src.walk_touching(added):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                if not added.touches(*span(node)):
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for label, value in _target_pairs(t, node.value):
                        if self.names.search(label):
                            yield label, node, value
            elif isinstance(node, ast.keyword) and node.arg is not None and self.names.search(node.arg):
                if added.touches(*span(node)):
                    yield node.arg, node, node.value
            elif isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    named = (
                        isinstance(k, ast.Constant)
                        and isinstance(k.value, str)
                        and self.names.search(k.value)
                    )
                    if named and added.touches(k.lineno, v.end_lineno or v.lineno):
                        yield repr(k.value), k, v
            elif isinstance(node, ast.arguments):
                positional = node.posonlyargs + node.args
                pairs = list(zip(positional[len(positional) - len(node.defaults) :], node.defaults))
                pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults) if d is not None]
                for arg, default in pairs:
                    if self.names.search(arg.arg) and added.touches(
                        arg.lineno, default.end_lineno or default.lineno
                    ):
                        yield arg.arg, arg, default

    def _judge(self, rel: str, src: PySource, label: str, site: ast.AST, value: ast.expr) -> Decision | None:
        found = list(self._sources(src, value, whole=True, depth=0))
        literal = next((s for s in found if s.kind == "literal"), None)
        secret = next((s for s in found if s.kind == "secret"), None)
        chosen = literal or secret
        if chosen is None:
            return None
        lo, hi = span(value)
        line = chosen.node.lineno if lo <= chosen.node.lineno <= hi else value.lineno  # type: ignore[attr-defined]
        if literal is not None:
            rule = f"{label}: {literal.detail}"
            if secret is not None:
                rule += f" (as fallback of {secret.detail})"
            return Decision(self.literal, rel, line, src.line(line).strip(), rule)
        return Decision(
            self.secret_store, rel, line, src.line(line).strip(), f"{label}: from {secret.detail}"
        )  # type: ignore[union-attr]

    def _sources(self, src: PySource, expr: ast.expr, whole: bool, depth: int) -> Iterator[_Source]:
        """Literal credentials and secret-store reads that flow into ``expr``'s value.

        ``whole`` is True when ``expr`` is the entire value (a plain string is judged as a whole);
        parts of f-strings, concatenations and ``.format`` templates are judged word by word, so
        ``f"Bearer {token}"`` is not a literal credential but ``f"Bearer sk_live_4f9a8b7c"`` is.
        """
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str | bytes):
            text = expr.value.decode("utf-8", "replace") if isinstance(expr.value, bytes) else expr.value
            hit = self._literal_whole(text) if whole else self._literal_word(text)
            if hit is not None:
                yield _Source("literal", expr, f"hard-coded string {_redact(hit)}")
        elif isinstance(expr, ast.JoinedStr):
            for part in expr.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    hit = self._literal_word(part.value)
                    if hit is not None:
                        yield _Source("literal", part, f"hard-coded {_redact(hit)} in an f-string")
                elif isinstance(part, ast.FormattedValue):
                    yield from self._sources(src, part.value, whole=False, depth=depth)
        elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add | ast.Mod):
            yield from self._sources(src, expr.left, whole=False, depth=depth)
            yield from self._sources(src, expr.right, whole=False, depth=depth)
        elif isinstance(expr, ast.BoolOp):
            for v in expr.values:
                yield from self._sources(src, v, whole=whole, depth=depth)
        elif isinstance(expr, ast.IfExp):
            yield from self._sources(src, expr.body, whole=whole, depth=depth)
            yield from self._sources(src, expr.orelse, whole=whole, depth=depth)
        elif isinstance(expr, ast.Await):
            yield from self._sources(src, expr.value, whole=whole, depth=depth)
        elif isinstance(expr, ast.Call):
            yield from self._call_sources(src, expr, whole, depth)
        elif isinstance(expr, ast.Subscript):
            name = self.secrets.match(src, expr.value)
            if name is not None:
                yield _Source("secret", expr, f"{_dotted(name)}[...]")
        elif isinstance(expr, ast.Name) and depth < _MAX_DEPTH:
            for v in reaching(src, expr) or []:
                if v is not None:
                    yield from self._sources(src, v, whole=whole, depth=depth + 1)

    def _call_sources(self, src: PySource, call: ast.Call, whole: bool, depth: int) -> Iterator[_Source]:
        name = self.secrets.match(src, call.func)
        if name is not None:
            yield _Source("secret", call, f"{_dotted(name)}()")
            fallbacks = call.args[1:] + [kw.value for kw in call.keywords if kw.arg in _FALLBACK_KEYWORDS]
            for f in fallbacks:
                yield from self._sources(src, f, whole=True, depth=depth)
            return
        func = call.func
        tail = (
            func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        )
        if tail in _CONVERTERS:
            for a in call.args:
                yield from self._sources(src, a, whole=whole, depth=depth)
        elif isinstance(func, ast.Attribute):
            # A method on the value: get_secret("x").strip(), "sk_live_...".encode(), "{}".format(t)
            template_whole = whole and func.attr != "format"
            yield from self._sources(src, func.value, whole=template_whole, depth=depth)
            if func.attr == "format":
                for a in call.args + [kw.value for kw in call.keywords]:
                    yield from self._sources(src, a, whole=False, depth=depth)

    def _credential_like(self, text: str) -> bool:
        if len(text) > _MAX_LITERAL:
            return False  # a document, not a key (and the checks below must stay cheap)
        return not (
            len(text) < self.min_literal
            or _PLACEHOLDER.match(text)
            or _ENV_NAME.match(text)
            or _PATH.match(text)
            or (_URL.match(text) and not _URL_SECRET.search(text) and not _secret_path(text))
        )

    def _literal_whole(self, text: str) -> str | None:
        s = text.strip()
        return s if self._credential_like(s) else None

    def _literal_word(self, text: str) -> str | None:
        for word in text.split():
            if word.endswith((":", "=")) or "{" in word or "%" in word:
                continue  # a label ("Authorization:", "key=") or a template field
            if self._credential_like(word):
                return word
        return None


def _target_pairs(target: ast.expr, value: ast.expr) -> Iterator[tuple[str, ast.expr]]:
    """(name, value) for each credential-nameable part of an assignment target."""
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, ast.Attribute):
        yield target.attr, value
    elif isinstance(target, ast.Subscript):
        key = target.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield key.value, value
    elif (
        isinstance(target, ast.Tuple | ast.List)
        and isinstance(value, ast.Tuple | ast.List)
        and len(target.elts) == len(value.elts)
    ):
        for t, v in zip(target.elts, value.elts):
            yield from _target_pairs(t, v)


def _redact(secret: str) -> str:
    """A literal shortened for the rule text (the snippet beside it shows the whole line)."""
    return repr(secret if len(secret) <= 24 else secret[:23] + "…")


@register("ast.credential_source")
def build_credential_source(spec: DetectorSpec, sides: Sides) -> CredentialSourceDetector:
    p = parse_params(CredentialSourceParams, spec)
    check_sides(
        spec, sides, [("sides.literal", p.sides.literal), ("sides.secret_store", p.sides.secret_store)]
    )
    return CredentialSourceDetector(
        id=spec.id,
        names=compile_regex(p.names, "names"),
        secrets=NameSet(p.secret_calls),
        min_literal=p.min_literal,
        literal=p.sides.literal,
        secret_store=p.sides.secret_store,
    )
