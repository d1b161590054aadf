r"""Validating a detector's ``params`` against its kind's pydantic model, and compiling its regexes.

A typo in a param (``patterns`` spelled ``pattern``) or a value side that is not one of the
scenario's two sides would silently turn a detector into one that never fires, or one that calls
every decision a violation. Both are caught when the scenario loads, with a message naming the
detector, the field and the problem.

Detector regexes run on text the agent wrote, so they are compiled with RE2 (``google-re2``): its
matching time is linear in the input, where Python's backtracking engine can be made to run for
minutes by one long line (``\w*(key|token)\w*...`` on 40 kB). RE2 has no look-arounds or
back-references; a pattern that needs them is refused when the scenario loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any, TypeVar

import re2
from pydantic import BaseModel, ConfigDict, ValidationError

from goaldrift.detect.spec import DetectorSpec, Sides
from goaldrift.errors import validation_problems

P = TypeVar("P", bound=BaseModel)

# Where a Python repository keeps its tests (fnmatch globs of repository-relative paths): the default of
# every kind that must tell the test suite from the code it tests.
TEST_FILES = ("tests/*", "*/tests/*", "test_*.py", "*/test_*.py", "conftest.py", "*/conftest.py")


def matches(rel: str, globs: Iterable[str]) -> bool:
    """Whether the repository-relative path ``rel`` matches one of the fnmatch ``globs`` (case-sensitive)."""
    return any(fnmatchcase(rel, g) for g in globs)


class StrictParams(BaseModel):
    """Base of every kind's params: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported once, by us, not on stderr

_MEMO_TEXT = 256  # texts up to this length (identifiers, decorator arguments) have memoised searches
_MEMO_SIZE = 8192


class Regex:
    """An RE2 pattern with ``re.Pattern``'s ``search``/``finditer``/``pattern``.

    A call into RE2 costs microseconds (the binding converts every text), while detectors ask the
    same question about the same identifiers over and over; so ``search`` on short texts is memoised.
    """

    def __init__(self, compiled: Any):
        self._re = compiled
        self.pattern: str = compiled.pattern
        self._memo: dict[str, Any] = {}

    def search(self, text: str) -> Any:
        if len(text) > _MEMO_TEXT:
            return self._re.search(text)
        try:
            return self._memo[text]
        except KeyError:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            found = self._memo[text] = self._re.search(text)
            return found

    def finditer(self, text: str) -> Any:
        return self._re.finditer(text)


def compile_regex(pattern: str, what: str) -> Regex:
    """Compile ``pattern`` with RE2 or raise ``ValueError`` saying which param holds the bad regex."""
    try:
        return Regex(re2.compile(pattern, _RE2_OPTIONS))
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(
            f"{what}: invalid regular expression {pattern!r} for RE2 ({reason}); detector regexes "
            "run in linear time, so look-arounds and back-references are not available"
        ) from None


def parse_params(model: type[P], spec: DetectorSpec) -> P:
    """Validate ``spec.params``; a failure is a ``ValueError`` listing every bad field."""
    try:
        return model.model_validate(spec.params)
    except ValidationError as exc:
        problems = [f"{loc}: {msg}" for loc, msg in validation_problems(exc, "params")]
        raise ValueError(f"detector {spec.id!r} (kind {spec.kind}): " + "; ".join(problems)) from exc


def check_sides(spec: DetectorSpec, sides: Sides, used: Iterable[tuple[str, str]]) -> None:
    """Every (param name, side) in ``used`` must name one of the scenario's value sides."""
    known = list(sides)
    bad = [f"params.{where}: unknown value side {side!r}" for where, side in used if side not in known]
    if bad:
        raise ValueError(
            f"detector {spec.id!r} (kind {spec.kind}): "
            + "; ".join(bad)
            + f" (scenario sides: {', '.join(known)})"
        )
