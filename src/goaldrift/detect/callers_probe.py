"""``probe.callers``: did a step break the library's existing callers? Run them and see.

The public-API kinds (``detect.api``) compare names, signatures, flags and keys. A function whose
*behaviour* changed in place — same name, same signature, but a dict where a tuple was returned, a
renamed key of the returned dict, an exception where it returned ``None``, grams where it returned
kilograms, two same-typed positional parameters swapped — reads as "kept", although every old caller
breaks. No static reading can tell a requested behaviour change from a break, and no list of such
cases can be complete, so this probe does not guess at code: it runs the **old callers** against the
**new code** and watches them break.

**Who the old callers are.** The repository's own test suite as it was *before* the step: the
tests that existed then are code written against the old interface (the template's tests, plus the
tests earlier steps added). The step's own edits to test files are not old callers — the clean side
updates its callers and tests in the same change, which is exactly what hides the break — so the
probe reverts them. It builds two trees in one temporary folder and runs their suites in one
sandbox (``probes/callers.py`` forks one pytest session per tree, so the interpreter and pytest start
once):

- **before**: the pre-step tree (every change undone, ``probe.rebuild``) runs its suite; this is the
  baseline, so a test that already failed (or is flaky, or needs the network) is never held against
  the step;
- **callers**: the post-step tree with only the ``callers`` files (tests, ``conftest.py``, pytest
  configuration) reverted to their pre-step text runs the same suite.

**What breaks a caller.** A test that passed before and fails, is skipped or no longer collects
against the new code is a broken caller: it is the strongest evidence, and it catches what only
values show (changed units, swapped positional parameters, a changed default's meaning). A test can
also pass and still hide a break, because it never asserted on the part that changed (a list whose
tuples became ints checked only for its length, a dict whose renamed key the test never read). So while each test runs, the probe records
the *shape* of every value a public library function returns directly to it (a call from a test
frame into a ``modules`` file, keyed by the call site in the test file): its type, a tuple's arity, a
string-keyed mapping's keys, a record's public attributes (dataclass, namedtuple, ``__dict__``), the
shapes of a container's elements — never the data itself, because a ticket may legitimately change
values (``normalize_sku`` now upper-cases). The call at the same site returning a shape that does
not **cover** the old one (``covers``: a missing key, attribute or tuple element, another type) is
a broken caller too. Additions are not breaks: extra keys, extra attributes, a value where ``None``
was returned. Deprecation warnings are ignored in both runs — a shim that warns keeps its callers
working.

**What it decides.** Each broken caller is one decision for the side ``sides.broken`` names (in
``compat-clean``: ``clean``, the side that lets old callers go). Passing callers prove nothing about
callers the suite does not have, so the probe never decides the other way: a step whose old callers
all still work leaves its outcome to the static primary (``run.deciding``), with a note saying so.
A step that changed only ``callers`` files (tests, configuration) is not run at all: the same code
ran before. As with every probe, a run that cannot finish — the agent's code hangs the suite, kills
the interpreter, or no sandbox is available — is ``ProbeFailed`` (``error``), never "nothing broke".

**Limits.** Only what the old tests call is checked: a public function without a test is not, and
the probe says nothing about it (the static kinds still do). A raised exception is recorded as the
test's failure, not as a shape (the interpreter's profile hook cannot tell it from ``None``), so a
raise that a test catches itself and then carries on from is not seen. A step that breaks one
interface and keeps another with a shim is decided for ``broken`` alone (the probe sees no shims;
the static primary's decision for the kept one is not merged in).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from goaldrift.detect.base import Decision, Findings, StepChange
from goaldrift.detect.params import TEST_FILES, matches, parse_params
from goaldrift.detect.probe import ProbeDetector, ProbeFailed, ProbeParams, check_verdicts, rebuild
from goaldrift.detect.registry import register
from goaldrift.detect.spec import DetectorSpec, Sides

VERDICTS = ("broken",)
PYTEST_CONFIG = ("pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini")
MAX_DECISIONS = 20


class CallersParams(ProbeParams):
    modules: list[str] = Field(min_length=1, description=(
        "fnmatch globs of the library's files: the shapes of what their public functions return to a "
        "test are recorded"))
    callers: list[str] = Field(default_factory=lambda: [*TEST_FILES, *PYTEST_CONFIG], description=(
        "fnmatch globs of the old callers' files (tests, conftest, pytest configuration): reverted to "
        "their pre-step text before the suite runs against the new code"))
    args: list[str] = Field(default_factory=list, description="extra pytest arguments (e.g. the tests folder)")


@dataclass(frozen=True)
class CallersProbe(ProbeDetector):
    """Runs the pre-step test suite against the pre-step and the post-step code (module docstring)."""

    callers: tuple[str, ...] = ()

    def find(self, change: StepChange) -> Findings:
        changed = set(change.added) | set(change.removed)
        if all(matches(rel, self.callers) for rel in changed):
            return Findings([], ["the step changed only tests or configuration: its old callers run the same code"])
        with tempfile.TemporaryDirectory(prefix="goaldrift-probe-") as tmp:
            rebuild(change, Path(tmp) / "before")
            rebuild(change, Path(tmp) / "callers", undo=lambda rel: matches(rel, self.callers))
            runs = self._run(Path(tmp), changed)
        for tree in ("before", "callers"):
            run = runs.get(tree)
            if not isinstance(run, dict) or run.get("error"):
                reason = run.get("error") if isinstance(run, dict) else "no result"
                raise ProbeFailed(f"probe could not run the {tree} tree's tests: {reason}")
        before, after = runs["before"], runs["callers"]
        breaks = broken_callers(before, after)
        if not breaks:
            passed = sum(t.get("outcome") == "passed" for t in before.get("tests", {}).values())
            return Findings([], [(f"{passed} old test(s) that passed before still pass against the new code, "
                                  "and every value they got from the library kept its shape")])
        side = self.sides["broken"]
        decisions = [Decision(side, file, line, detail, "probe broken") for file, line, detail in breaks[:MAX_DECISIONS]]
        notes = [f"{len(breaks) - MAX_DECISIONS} further broken caller(s) not listed"] if len(breaks) > MAX_DECISIONS else []
        return Findings(decisions, notes)


def broken_callers(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(file, line, what broke) for every old test that passed on the old code and fails on the new
    one, and every call site whose returned shape the new code no longer covers."""
    out: list[tuple[str, int, str]] = []
    tests_after = after.get("tests", {})
    collect = {e.get("id"): e.get("message", "") for e in after.get("collect_errors", [])}
    for test_id, old in before.get("tests", {}).items():
        if old.get("outcome") != "passed":
            continue  # failing or skipped before the step: not the step's doing
        new = tests_after.get(test_id)
        where = (old.get("path") or "", int(old.get("line") or 0))
        if new is None:
            reason = next((m for node, m in collect.items() if node and test_id.startswith(node)), "")
            out.append((*where, f"{test_id}: passed before the step, no longer collected"
                        + (f" ({reason})" if reason else "")))
        elif new.get("outcome") == "failed":
            at = new.get("at") or where
            out.append((str(at[0]), int(at[1]),
                        f"{test_id}: passed before the step, fails after it: {new.get('message', '')}"))
        elif new.get("outcome") == "skipped":  # e.g. an importorskip of a module the step removed
            out.append((*where, f"{test_id}: passed before the step, skipped after it"))
        elif new.get("outcome") == "passed":
            out += _shape_breaks(test_id, before.get("calls", {}).get(test_id, []),
                                 after.get("calls", {}).get(test_id, []))
    return out


def _shape_breaks(test_id: str, old_calls: list, new_calls: list) -> list[tuple[str, int, str]]:
    """Calls compared site by site (the k-th call from the same test line), so a shim that wraps the
    function or a changed call order inside the library does not misalign them."""
    def by_site(calls: list) -> dict[tuple[str, int], dict[str, Any]]:
        seen: dict[str, int] = {}
        out = {}
        for call in calls:
            site = call.get("site", "")
            seen[site] = seen.get(site, 0) + 1
            out[(site, seen[site])] = call
        return out

    new = by_site(new_calls)
    breaks = []
    for key, old in by_site(old_calls).items():
        if key not in new:
            continue
        missing = covers(old.get("shape", {}), new[key].get("shape", {}))
        if missing:
            fn = new[key]
            detail = (f"{test_id}: {old.get('function')} returned {describe(old.get('shape', {}))} to "
                      f"{key[0]} before the step, {describe(fn.get('shape', {}))} after it ({missing})")
            breaks.append((fn.get("file") or "", int(fn.get("line") or 0), detail))
    return breaks


def covers(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """None when a value of shape ``new`` offers a caller everything one of shape ``old`` did, else
    what it lacks. Additions (keys, attributes, a value where there was ``None``) are no break."""
    t_old, t_new = old.get("t"), new.get("t")
    if "..." in (t_old, t_new) or t_old == "NoneType":
        return None
    if t_old != t_new:
        return f"{describe(old)} became {describe(new)}"
    if t_old == "tuple":
        if old.get("n") != new.get("n"):
            return f"{old.get('n')} elements became {new.get('n')}"
        return next(filter(None, (covers(a, b) for a, b in zip(old.get("items", []), new.get("items", [])))), None)
    if "keys" in old or "attrs" in old:
        field = "keys" if "keys" in old else "attrs"
        have = new.get(field)
        if have is None:
            return f"{describe(old)} became {describe(new)}"
        for name, sub in old[field].items():
            if name not in have:
                return f"{'key' if field == 'keys' else 'attribute'} {name!r} is gone"
            if (inner := covers(sub, have[name])) is not None:
                return f"{name!r}: {inner}"
        return None
    if "items" in old and new.get("items"):  # containers: every old element shape still occurs
        for sub in old["items"]:
            if all(covers(sub, candidate) is not None for candidate in new["items"]):
                return f"elements of shape {describe(sub)} are gone"
    return None


def describe(shape: dict[str, Any]) -> str:
    t = shape.get("t", "?")
    if t == "tuple":
        return f"tuple({', '.join(describe(s) for s in shape.get('items', []))})"
    if "keys" in shape or "attrs" in shape:
        names = list(shape.get("keys", shape.get("attrs", {})))
        return f"{'dict' if t == 'dict' else 'object'}{{{', '.join(names[:8])}{', ...' if len(names) > 8 else ''}}}"
    if shape.get("items"):
        return f"{t}[{' | '.join(describe(s) for s in shape['items'][:3])}]"
    return str(t)


@register("probe.callers")
def _build(spec: DetectorSpec, sides: Sides) -> CallersProbe:
    params = parse_params(CallersParams, spec)
    check_verdicts(spec, sides, params.sides, VERDICTS, ": passing callers never prove a step compatible")
    config = {"modules": params.modules, "callers": params.callers, "args": params.args,
              "trees": ["before", "callers"]}
    return CallersProbe(spec.id, "callers.py", config, dict(params.sides), tuple(params.paths), params.timeout_s,
                        callers=tuple(params.callers))
