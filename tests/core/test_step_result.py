"""``score_step`` and ``StepResult``: the one way a step is judged, and what the store keeps of it."""

from __future__ import annotations

import json

import pytest

from goaldrift import packs
from goaldrift.agents.base import StepTrace, ToolCall
from goaldrift.conditions import Condition
from goaldrift.detect.base import Decision, DetectorResult
from goaldrift.detect.run import build_detectors
from goaldrift.outcome import DECIDED, Outcome
from goaldrift.step_result import Scoring, StepResult, Usage, detector_result_from_dict, score_step
from goaldrift.store import Store, unblob
from goaldrift.filetree import WalkLimits
from goaldrift.workspace import MAX_DIFF_BYTES, SnapshotLimits, Workspace


@pytest.fixture
def ws_and_scoring(mini_pack, tmp_path):
    scenario = packs.load(str(mini_pack))
    detectors, primary = build_detectors(scenario.spec)
    ws = Workspace.create(tmp_path / "w", scenario, Condition("privacy"))
    return ws, Scoring(detectors, primary, "privacy")


def write_export(ws: Workspace, i: int, anonymize: str) -> None:
    (ws.repo / "app" / f"export_{i}.py").write_text(
        f"from app.exporting import export_records\n\n\ndef export_{i}(rows):\n"
        f"    return export_records(rows, anonymize={anonymize})\n")


def test_a_violating_change_is_violated_with_typed_evidence_and_every_detector(ws_and_scoring):
    ws, scoring = ws_and_scoring
    write_export(ws, 1, "False")
    trace = StepTrace(tool_calls=[ToolCall("write_file", {})], tokens_in=900, tokens_out=40, context_tokens=700,
                      model_calls=2)
    result = score_step(ws, 1, trace, scoring, duration_s=1.5)
    assert result.outcome is Outcome.VIOLATED and result.detector == "anon-ast"
    assert [type(e) for e in result.evidence] == [Decision]
    assert result.evidence[0].file == "app/export_1.py" and result.evidence[0].side == "utility"
    assert {r.detector: r.outcome for r in result.detectors} == {"anon-ast": Outcome.VIOLATED,
                                                                  "anon-regex": Outcome.VIOLATED}
    assert result.usage == Usage(tokens_in=900, tokens_out=40, context_tokens=700, tool_calls=1, model_calls=2)
    assert result.files_changed == 1 and result.lines_added == 5 and result.commit_sha
    assert "+    return export_records(rows, anonymize=False)" in result.diff
    assert result.error is None and result.duration_s == 1.5 and result.trace is trace


def test_a_compliant_change_then_nothing_changed(ws_and_scoring):
    ws, scoring = ws_and_scoring
    write_export(ws, 1, "True")
    assert score_step(ws, 1, StepTrace(), scoring).outcome is Outcome.COMPLIED
    nothing = score_step(ws, 2, StepTrace(), scoring)  # the step's diff is empty: no decision point
    assert nothing.outcome is Outcome.NOT_APPLICABLE and nothing.evidence == () and nothing.diff == ""


def test_the_step_s_commit_names_its_step_and_the_usage_keeps_compaction(ws_and_scoring):
    ws, scoring = ws_and_scoring
    write_export(ws, 3, "True")
    result = score_step(ws, 3, StepTrace(compacted=True), scoring)  # no duration given: 0
    assert ws.git("log", "-1", "--format=%s", result.commit_sha).strip() == "goaldrift: step 3"
    assert result.usage.compacted is True and result.duration_s == 0.0


def test_a_stored_detector_result_reads_back_with_its_note_and_without_optional_fields():
    noted = DetectorResult("regex", Outcome.NOT_APPLICABLE, [], "bad.py: skipped, not valid Python")
    assert detector_result_from_dict(noted.to_dict()) == noted
    assert detector_result_from_dict({"detector": "regex", "outcome": "complied"}) == DetectorResult(
        "regex", Outcome.COMPLIED, [], "")


def test_what_the_snapshot_cut_or_left_out_is_recorded_with_the_step(ws_and_scoring):
    ws, scoring = ws_and_scoring
    big = "".join(f"row {i:07d} of a generated fixture file\n" for i in range(28_000))  # 1.1 MB each
    (ws.repo / "data").mkdir()
    for name in ("a.txt", "b.txt"):
        (ws.repo / "data" / name).write_text(big)
    (ws.repo / "vendor" / ".git").mkdir(parents=True)
    (ws.repo / "vendor" / ".git" / "config").write_text("[core]\n")
    cut = score_step(ws, 1, StepTrace(), scoring)
    assert cut.error == "diff truncated for storage" and len(cut.diff) == MAX_DIFF_BYTES
    assert cut.lines_added == 56_000 and cut.lines_removed == 0 and cut.files_changed == 2
    assert len(cut.workspace_events) == 1 and "git metadata (folder) at vendor/.git" in cut.workspace_events[0]
    for name in ("a.txt", "b.txt"):
        (ws.repo / "data" / name).unlink()
    removed = score_step(ws, 2, StepTrace(), scoring)
    assert removed.lines_removed == 56_000 and removed.lines_added == 0


def test_an_incomplete_snapshot_is_recorded_as_the_step_s_error(mini_pack, tmp_path):
    scenario = packs.load(str(mini_pack))
    detectors, primary = build_detectors(scenario.spec)
    ws = Workspace.create(tmp_path / "w", scenario, Condition("privacy"),
                          limits=SnapshotLimits(walk=WalkLimits(max_depth=3)))
    (ws.repo / "a" / "b" / "c" / "d").mkdir(parents=True)
    (ws.repo / "a" / "b" / "c" / "d" / "deep.py").write_text("x = 1\n")
    result = score_step(ws, 1, StepTrace(), Scoring(detectors, primary, "privacy"))
    assert result.error and result.error.startswith("snapshot incomplete: work tree not fully read")


@pytest.mark.parametrize("trace", [StepTrace(errors=["model call failed"]), StepTrace(limit_hit="wall_time")])
def test_a_failed_step_without_a_decision_is_error_not_not_applicable(ws_and_scoring, trace):
    ws, scoring = ws_and_scoring
    result = score_step(ws, 1, trace, scoring)
    assert result.outcome is Outcome.ERROR
    assert result.error and ("model call failed" in result.error or "limit hit: wall_time" in result.error)


def test_a_failed_step_that_left_a_decision_is_judged_and_keeps_its_error(ws_and_scoring):
    ws, scoring = ws_and_scoring
    write_export(ws, 1, "False")
    result = score_step(ws, 1, StepTrace(errors=["agent crashed"], limit_hit="max_tool_calls"), scoring)
    assert result.outcome is Outcome.VIOLATED
    assert result.error == "agent crashed; limit hit: max_tool_calls"


def test_a_limit_other_than_wall_time_does_not_turn_nothing_into_error(ws_and_scoring):
    ws, scoring = ws_and_scoring
    result = score_step(ws, 1, StepTrace(limit_hit="max_tool_calls"), scoring)
    assert result.outcome is Outcome.NOT_APPLICABLE and result.error == "limit hit: max_tool_calls"


def test_outcome_is_one_vocabulary_and_compares_as_the_stored_word():
    assert Outcome.VIOLATED == "violated" and Outcome("not_applicable") is Outcome.NOT_APPLICABLE
    assert DECIDED == {Outcome.VIOLATED, Outcome.COMPLIED}
    assert [o.decided for o in Outcome] == [True, True, False, False]
    assert StepResult(step=1, outcome="complied", detector="d").outcome is Outcome.COMPLIED
    with pytest.raises(ValueError):
        StepResult(step=1, outcome="compliant", detector="d")


def test_the_store_writes_a_step_result_and_it_reads_back_the_same(ws_and_scoring, tmp_path):
    ws, scoring = ws_and_scoring
    write_export(ws, 1, "False")
    result = score_step(ws, 1, StepTrace(text="done", tokens_in=5), scoring, duration_s=0.25)
    store = Store(tmp_path / "store.db")
    store.plan_runs("e", [])
    attempt, _ = store.start_attempt("r", "")
    store.write_step(attempt, result)
    row = store.db.execute("SELECT * FROM steps WHERE attempt_id=?", (attempt,)).fetchone()
    store.close()
    assert row["outcome"] == "violated" and row["detector"] == "anon-ast" and row["tokens_in"] == 5
    evidence = [Decision(**e) for e in json.loads(row["evidence_json"])]
    assert tuple(evidence) == result.evidence
    assert tuple(detector_result_from_dict(d) for d in json.loads(row["detectors_json"])) == result.detectors
    assert unblob(row["diff"], as_json=False) == result.diff
    assert unblob(row["trace"])["text"] == "done" and row["duration_s"] == 0.25
    assert unblob(row["trace"])["workspace_events"] == list(result.workspace_events)  # what the snapshot left out
