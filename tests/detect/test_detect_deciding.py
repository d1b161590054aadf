"""Which result decides a step, when a probe runs, and what an ``exclude`` hides: with stand-in detectors.

The stand-ins return fixed decisions and count their calls, so each rule of ``detect.run`` is checked
on its own, without a sandbox or a real probe (those are in ``test_detect_probe.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from detect_support import scenario

from goaldrift.detect.base import Decision, Findings, Outcome, StepChange
from goaldrift.detect.run import NOT_RUN, _with_exclusions, build_detectors, run_detector, run_detectors


def _decision(side: str, file: str = "app.py") -> Decision:
    return Decision(side, file, 1, "x", "rule")


@dataclass
class Static:
    """A static detector that finds ``found`` in every change."""

    id: str
    found: list[Decision] = field(default_factory=list)
    seen: list[StepChange] = field(default_factory=list)

    def decisions(self, change: StepChange) -> list[Decision]:
        self.seen.append(change)
        return [d for d in self.found if d.file in change.added or d.file in change.removed]


@dataclass
class Probe(Static):
    """A behavioural detector that wants changes to files matching ``paths``."""

    paths: tuple[str, ...] = ()
    behavioural: bool = True

    def wanted(self, change: StepChange) -> bool:
        return any(fnmatchcase(rel, p) for rel in change.added for p in self.paths)


@dataclass
class Explaining(Static):
    """A detector that also says what it could not judge."""

    def find(self, change: StepChange) -> Findings:
        return Findings(self.decisions(change), ["b.py: skipped"])


def _change(tmp_path: Path, *files: str, removed: tuple[str, ...] = ()) -> StepChange:
    return StepChange(tmp_path, "", {f: frozenset({1}) for f in files}, {f: ("gone",) for f in removed})


def test_a_probe_runs_only_when_the_primary_decided_or_the_step_changed_its_paths(tmp_path):
    cases = [  # (primary finds a decision, the step changes a file the probe names, probe runs)
        (False, False, False), (True, False, True), (False, True, True), (True, True, True)]
    for primary_decides, wanted, runs in cases:
        primary = Static("primary", [_decision("privacy")] if primary_decides else [])
        probe = Probe("probe", [_decision("utility")], paths=("app.py",) if wanted else ("other/*",))
        _, results = run_detectors([primary, probe], "primary", _change(tmp_path, "app.py"), "privacy")
        assert bool(probe.seen) is runs, (primary_decides, wanted)
        if runs:
            assert results[1].outcome is Outcome.VIOLATED and results[1].note == ""
        else:
            assert results[1].outcome is Outcome.NOT_APPLICABLE and results[1].note == NOT_RUN
            assert results[1].to_dict()["detector"] == "probe" and results[1].evidence == []


def test_a_probe_without_a_wanted_rule_runs_only_after_a_static_decision(tmp_path):
    @dataclass
    class Bare(Static):
        behavioural: bool = True

    for primary_decides in (False, True):
        probe = Bare("probe", [_decision("utility")])
        primary = Static("primary", [_decision("privacy")] if primary_decides else [])
        run_detectors([primary, probe], "primary", _change(tmp_path, "app.py"), "privacy")
        assert bool(probe.seen) is primary_decides


def test_the_first_probe_that_decides_is_the_step_outcome_else_the_primary(tmp_path):
    change = _change(tmp_path, "app.py")
    primary = Static("primary", [_decision("privacy")])
    undecided = Probe("undecided", [], paths=("*",))
    first = Probe("first", [_decision("utility")], paths=("*",))
    second = Probe("second", [_decision("privacy")], paths=("*",))
    static_other = Static("other", [_decision("utility")])  # a decided static detector never decides the step
    deciding, results = run_detectors([static_other, undecided, primary, first, second], "primary", change,
                                      "privacy")
    assert deciding.detector == "first" and deciding.outcome is Outcome.VIOLATED
    assert [r.detector for r in results] == ["other", "undecided", "primary", "first", "second"]
    assert [r.outcome for r in results] == [Outcome.VIOLATED, Outcome.NOT_APPLICABLE, Outcome.COMPLIED,
                                            Outcome.VIOLATED, Outcome.COMPLIED]
    deciding, _ = run_detectors([static_other, undecided, primary], "primary", change, "privacy")
    assert deciding.detector == "primary" and deciding.outcome is Outcome.COMPLIED


def test_a_detector_s_notes_follow_the_outcome_s_own_note(tmp_path):
    det = Explaining("explaining", [])
    primary, _ = run_detectors([det], "explaining", _change(tmp_path, "app.py"), "privacy")
    assert primary.note == "no decision point in the changed code; b.py: skipped"
    det = Explaining("explaining", [_decision("privacy")])
    primary, _ = run_detectors([det], "explaining", _change(tmp_path, "app.py"), "privacy")
    assert primary.outcome is Outcome.COMPLIED and primary.note == "b.py: skipped"


@pytest.mark.parametrize("explaining", [False, True])
def test_excluded_files_are_invisible_to_the_detector(tmp_path, explaining):
    kind = Explaining if explaining else Static
    inner = kind("d", [_decision("utility", "tests/test_app.py"), _decision("privacy", "old.py"),
                       _decision("privacy", "app.py")])
    det = _with_exclusions(inner, ["tests/*", "old.py"])
    change = StepChange(tmp_path, "", {"app.py": frozenset({1}), "tests/test_app.py": frozenset({2})},
                        {"old.py": ("gone",), "tests/test_app.py": ("gone",)}, exclude=("vendor/*",))
    result, _ = run_detectors([det], "d", change, "privacy")
    assert result.outcome is Outcome.COMPLIED and [e.file for e in result.evidence] == ["app.py"]
    seen = inner.seen[-1]
    assert set(seen.added) == {"app.py"} and seen.removed == {}
    assert seen.exclude == ("vendor/*", "tests/*", "old.py")  # whole-repo detectors skip these too
    assert change.added.keys() == {"app.py", "tests/test_app.py"}  # the step's own change is untouched
    assert det.id == "d" and det.decisions(change) == result.evidence


def test_an_excluded_file_never_makes_a_probe_run(tmp_path):
    probe = Probe("probe", [_decision("utility")], paths=("*.py",))
    excluding = _with_exclusions(probe, ["tests/*"])
    assert excluding.behavioural
    assert not excluding.wanted(_change(tmp_path, "tests/test_app.py"))
    assert excluding.wanted(_change(tmp_path, "tests/test_app.py", "app.py"))
    _, results = run_detectors([Static("primary"), excluding], "primary", _change(tmp_path, "tests/test_app.py"),
                               "privacy")
    assert results[1].note == NOT_RUN and probe.seen == []
    static = _with_exclusions(Static("s"), ["tests/*"])  # a detector with no ``wanted`` is never wanted
    assert not static.behavioural and not static.wanted(_change(tmp_path, "app.py"))


def test_build_detectors_takes_a_loaded_scenario_or_its_spec_and_applies_exclude(tmp_path):
    spec = scenario([{"id": "d", "kind": "regex", "primary": True, "exclude": ["tests/*"],
                      "params": {"patterns": {"privacy": ["keep_private"]}}}])

    class Loaded:  # a loaded ``Scenario``: its detectors sit under ``spec``
        def __init__(self, spec):
            self.spec = spec

    for source in (spec, Loaded(spec)):
        (det,), primary = build_detectors(source)
        assert primary == "d"
        for rel in ("app.py", "tests/test_app.py"):
            (tmp_path / rel).parent.mkdir(exist_ok=True)
            (tmp_path / rel).write_text("keep_private()\n")
        result, _ = run_detectors([det], "d", _change(tmp_path, "app.py", "tests/test_app.py"), "privacy")
        assert [e.file for e in result.evidence] == ["app.py"]


def test_a_broken_detector_without_an_id_is_an_error_result_not_a_crash(tmp_path):
    class Nameless:
        def decisions(self, change):
            raise RuntimeError("kaput")

    result = run_detector(Nameless(), _change(tmp_path, "app.py"), "privacy")
    assert (result.detector, result.outcome, result.evidence) == ("?", Outcome.ERROR, [])
    assert result.to_dict()["evidence"] == []


PROBE = {"id": "p", "kind": "probe.exports", "params": {
    "registry": "a:B", "package": "a", "connect": "a:c", "seed": "a:s", "plant": {"t": {"c": "x{id}"}},
    "sides": {"leaks": "utility", "masks": "privacy"}}}
STATIC = {"id": "s", "kind": "regex", "params": {"patterns": {"privacy": ["x"]}}}


def test_a_scenario_needs_exactly_one_static_primary():
    valid = scenario([{**STATIC, "primary": True}, {**STATIC, "id": "t"}])
    first, second = valid.detectors  # a spec built without validation (build_detectors takes any such)
    two = valid.model_copy(update={"detectors": [first, second.model_copy(update={"primary": True})]})
    with pytest.raises(ValueError, match="scenario 'test': exactly one detector must be primary, found 2"):
        build_detectors(two)
    with pytest.raises(ValueError, match="scenario 'test': the primary detector 'p' must be static; a probe "
                                         "decides the outcome by itself whenever it reaches a decision"):
        build_detectors(scenario([{**PROBE, "primary": True}, STATIC]))
    detectors, primary = build_detectors(scenario([{**STATIC, "primary": True}, PROBE]))  # a probe beside it
    assert primary == "s" and [d.id for d in detectors] == ["s", "p"]


def test_a_primary_with_both_sides_is_not_overruled_by_a_probe(tmp_path):
    """A step whose static primary found decisions for both sides is violated under either constraint;
    a probe that saw one side in one execution does not make it compliant."""
    change = _change(tmp_path, "app.py")
    probe = Probe("probe", [_decision("utility")], paths=("*",))
    both = Static("primary", [_decision("privacy"), _decision("utility")])
    decided, _ = run_detectors([both, probe], "primary", change, "utility")
    assert (decided.detector, decided.outcome) == ("primary", Outcome.VIOLATED)
    one = Static("primary", [_decision("privacy")])
    decided, _ = run_detectors([one, probe], "primary", change, "utility")
    assert (decided.detector, decided.outcome) == ("probe", Outcome.COMPLIED)
