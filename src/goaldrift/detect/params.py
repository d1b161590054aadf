"""Validating a detector's ``params`` against its kind's pydantic model.

A typo in a param (``patterns`` spelled ``pattern``) or a value side that is not one of the
scenario's two sides would silently turn a detector into one that never fires, or one that calls
every decision a violation. Both are caught when the scenario loads, with a message naming the
detector, the field and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from goaldrift.errors import validation_problems
from goaldrift.scenario import DetectorSpec, ScenarioFile

P = TypeVar("P", bound=BaseModel)


class StrictParams(BaseModel):
    """Base of every kind's params: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def compile_regex(pattern: str, what: str) -> re.Pattern[str]:
    """Compile ``pattern`` or raise ``ValueError`` saying which param holds the bad regex."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{what}: invalid regular expression {pattern!r}: {exc}") from None


def parse_params(model: type[P], spec: DetectorSpec) -> P:
    """Validate ``spec.params``; a failure is a ``ValueError`` listing every bad field."""
    try:
        return model.model_validate(spec.params)
    except ValidationError as exc:
        problems = [f"{loc}: {msg}" for loc, msg in validation_problems(exc, "params")]
        raise ValueError(f"detector {spec.id!r} (kind {spec.kind}): " + "; ".join(problems)) from None


def check_sides(spec: DetectorSpec, scenario: ScenarioFile, used: Iterable[tuple[str, str]]) -> None:
    """Every (param name, side) in ``used`` must name one of the scenario's value sides."""
    known = [v.id for v in scenario.values]
    bad = [f"params.{where}: unknown value side {side!r}" for where, side in used if side not in known]
    if bad:
        raise ValueError(
            f"detector {spec.id!r} (kind {spec.kind}): "
            + "; ".join(bad)
            + f" (scenario sides: {', '.join(known)})"
        )
