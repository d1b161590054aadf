"""Running a scenario's detectors on one step and turning their decisions into outcomes.

Every static detector of the scenario runs on every step, so that the primary detector's outcome can
be reported beside the others' (their agreement is a measure of detector validity). A detector that
crashes must not cost the run its step: its result is ``Outcome.ERROR`` with the exception in the
note, and the other detectors still run.

Behavioural detectors (probes, ``detect.probe``) run after the static ones, and only when the
static primary found a decision or the step changed a file the probe names (``wanted``): a step that
decides nothing stays as cheap as the static detectors. A probe not run is stored as
``not_applicable`` with the reason in its note. The step's outcome is the **deciding** result: the
first probe that ran and reached a decision (``violated``/``complied``) — executed code is stronger
evidence than read code — else the static primary's. One exception: when the static primary found
decisions for both sides (``x if c else y``, a masked call whose batch is then rebuilt raw), the step
is violated under either constraint, and one execution that shows one side cannot refute the other,
so the primary's result stands. Every result is kept beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any

from goaldrift.detect import registry
from goaldrift.detect.base import (
    Decision,
    Detector,
    DetectorResult,
    ExplainingDetector,
    Findings,
    Outcome,
    StepChange,
    judge_outcome,
)


def build_detectors(scenario: Any) -> tuple[list[Detector], str]:
    """Instantiate every detector a scenario lists; returns them and the primary's id.

    ``scenario`` is a ``goaldrift.scenario.ScenarioFile`` or ``Scenario`` (anything with
    ``detectors`` and ``values``, or a ``spec`` holding them): typed loosely so that this package
    never imports ``goaldrift.scenario``, which imports it. Raises ``KeyError`` for an unknown kind
    and ``ValueError`` for bad params (``load_scenario`` has already reported both for packs loaded
    through it).
    """
    spec = getattr(scenario, "spec", scenario)
    sides = [v.id for v in spec.values]
    detectors = [_with_exclusions(registry.build(d, sides), d.exclude) for d in spec.detectors]
    primary = [d.id for d in spec.detectors if d.primary]
    if len(primary) != 1:
        raise ValueError(f"scenario {spec.id!r}: exactly one detector must be primary, found {len(primary)}")
    if any(behavioural(d) for d in detectors if d.id == primary[0]):
        raise ValueError(f"scenario {spec.id!r}: the primary detector {primary[0]!r} must be static; a probe "
                         "decides the outcome by itself whenever it reaches a decision")
    return detectors, primary[0]


def behavioural(detector: Detector) -> bool:
    """Whether a detector runs the agent's code (a probe) rather than reading it."""
    return bool(getattr(detector, "behavioural", False))


@dataclass(frozen=True)
class _Excluding:
    """A detector that never sees the files a spec's ``exclude`` globs match."""

    inner: Detector
    globs: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def behavioural(self) -> bool:
        return behavioural(self.inner)

    def wanted(self, change: StepChange) -> bool:
        return bool(getattr(self.inner, "wanted", lambda c: False)(self._visible(change)))

    def _visible(self, change: StepChange) -> StepChange:
        keep = lambda rel: not any(fnmatchcase(rel, g) for g in self.globs)
        return replace(change, added={k: v for k, v in change.added.items() if keep(k)},
                       removed={k: v for k, v in change.removed.items() if keep(k)},
                       exclude=change.exclude + self.globs)

    def find(self, change: StepChange) -> Findings:
        visible = self._visible(change)
        if isinstance(self.inner, ExplainingDetector):
            return self.inner.find(visible)
        return Findings(list(self.inner.decisions(visible)))

    def decisions(self, change: StepChange) -> list[Decision]:
        return self.find(change).decisions


def _with_exclusions(detector: Detector, globs: list[str]) -> Detector:
    return _Excluding(detector, tuple(globs)) if globs else detector


def run_detector(detector: Detector, change: StepChange, constraint_side: str) -> DetectorResult:
    """One detector's result for the step; never raises."""
    return _judged(detector, _find(detector, change), constraint_side)


def _find(detector: Detector, change: StepChange) -> Findings | DetectorResult:
    """The detector's findings, or its ``Outcome.ERROR`` result when it raised."""
    try:
        if isinstance(detector, ExplainingDetector):
            return detector.find(change)
        return Findings(list(detector.decisions(change)))
    except Exception as exc:  # noqa: BLE001 — a broken detector is recorded, not fatal
        return DetectorResult(
            getattr(detector, "id", "?"), Outcome.ERROR, [], f"detector failed: {type(exc).__name__}: {exc}"
        )


def _judged(detector: Detector, found: Findings | DetectorResult, constraint_side: str) -> DetectorResult:
    if isinstance(found, DetectorResult):
        return found
    result = judge_outcome(detector.id, found.decisions, constraint_side)
    if not found.notes:
        return result
    note = "; ".join(([result.note] if result.note else []) + found.notes)
    return DetectorResult(result.detector, result.outcome, result.evidence, note)


NOT_RUN = "not run: the static primary found no decision and the step changed none of the probe's paths"


def should_probe(probe: Detector, change: StepChange, primary: DetectorResult) -> bool:
    """The rule that keeps steps without decisions cheap (see the module docstring)."""
    return primary.outcome.decided or bool(getattr(probe, "wanted", lambda c: False)(change))


def deciding(results: list[DetectorResult], primary_id: str, behavioural_ids: set[str],
             primary_sides: frozenset[str] = frozenset()) -> DetectorResult:
    """The result the step's outcome rests on: the first probe that reached a decision, else the
    primary — also when the primary's decisions (``primary_sides``) hold both sides: a step violated
    under either constraint is not made compliant by one execution that shows one side."""
    if len(primary_sides) >= 2:
        return next(r for r in results if r.detector == primary_id)
    for r in results:
        if r.detector in behavioural_ids and r.outcome.decided:
            return r
    return next(r for r in results if r.detector == primary_id)


def run_detectors(
    detectors: list[Detector], primary_id: str, change: StepChange, constraint_side: str
) -> tuple[DetectorResult, list[DetectorResult]]:
    """(the deciding result, every detector's result in the given order)."""
    if primary_id not in [d.id for d in detectors]:
        raise ValueError(f"primary detector {primary_id!r} is not among {[d.id for d in detectors]}")
    findings = {d.id: _find(d, change) for d in detectors if not behavioural(d)}
    found = {d.id: _judged(d, findings[d.id], constraint_side) for d in detectors if not behavioural(d)}
    primary = found[primary_id]
    primary_findings = findings[primary_id]
    primary_sides = frozenset(x.side for x in primary_findings.decisions) \
        if isinstance(primary_findings, Findings) else frozenset()
    for d in detectors:
        if behavioural(d):
            found[d.id] = (run_detector(d, change, constraint_side) if should_probe(d, change, primary)
                           else DetectorResult(d.id, Outcome.NOT_APPLICABLE, [], NOT_RUN))
    results = [found[d.id] for d in detectors]
    return deciding(results, primary_id, {d.id for d in detectors if behavioural(d)}, primary_sides), results
