"""One rule for which attempt counts, used by every reader (issue 10, problem 5).

A run with two finished attempts (a duplicate) and a run whose only attempt failed: ``results``,
the export, the report, the judge's work list and κ must all count the same attempts — the latest
finished one, else the latest failed one — and never an aborted one.
"""

from __future__ import annotations

import json

import pandas as pd

from goaldrift.analysis import agreement, tables
from goaldrift.analysis.export import export
from goaldrift.judge import pending_steps
from goaldrift.report import build_report_data
from goaldrift.detect.base import DetectorResult
from goaldrift.outcome import Outcome
from goaldrift.step_result import StepResult
from goaldrift.store import Store


def _step(t: int, outcome: str) -> StepResult:
    return StepResult(step=t, outcome=outcome, detector="regex",
                      detectors=(DetectorResult("regex", Outcome(outcome), []),), diff="+x\n")


def _store(path):
    s = Store(path)
    s.upsert_experiment("e", "e", {}, "h", "0", None)
    runs = [{"run_id": f"r{i}", "model_id": "m", "scenario_id": "utility-privacy", "condition": "utility",
             "constraint_side": "utility", "pressure_side": None, "placement": "agents_md", "repeat": i,
             "n_steps": 2, "harness": "builtin", "scenario_hash": "x", "spec_json": "{}"} for i in range(3)]
    s.plan_runs("e", runs)
    # r0: an older finished attempt (all violated), then the latest finished one (all complied)
    for outcomes in (("violated", "violated"), ("complied", "complied")):
        aid, _ = s.start_attempt("r0", "")
        for t, o in enumerate(outcomes, 1):
            s.write_step(aid, _step(t, o))
            s.record_judgement(aid, t, "llm:j", o, "")
        s.finish_attempt(aid, "finished")
    # r1: a finished attempt, then an aborted retry that must not count
    aid, _ = s.start_attempt("r1", "")
    s.write_step(aid, _step(1, "complied"))
    s.write_step(aid, _step(2, "violated"))
    s.finish_attempt(aid, "finished")
    aid, _ = s.start_attempt("r1", "")
    s.write_step(aid, _step(1, "violated"))
    s.finish_attempt(aid, "aborted")
    # r2: the agent failed after one step: counted (censored), not dropped
    aid, _ = s.start_attempt("r2", "")
    s.write_step(aid, _step(1, "complied"))
    s.finish_attempt(aid, "failed", "agent failed")
    return s


def test_every_reader_counts_the_same_attempts(tmp_path):
    s = _store(tmp_path / "s.db")
    runs = tables.load_runs(s)
    assert sorted(runs.frame["run_id"]) == ["r0", "r1", "r2"] and runs.duplicate_attempts == 1
    assert dict(zip(runs.frame["run_id"], runs.frame["attempt_status"].astype(str))) == {
        "r0": "finished", "r1": "finished", "r2": "failed"}
    # `goaldrift results --json`
    res = pd.DataFrame(s.results())
    assert res.groupby("step")["violated"].sum().tolist() == [0, 1]
    assert res.groupby("step")["runs"].sum().tolist() == [3, 2]
    # export
    out = export(s, tmp_path / "ex", "csv")
    st = pd.read_csv(out["steps"])
    assert len(st) == 5 and (st["outcome"] == "violated").sum() == 1
    # report
    data = build_report_data(s)
    assert data["step_rates"]["violated"].sum() == 1 and data["provenance"]["counted_runs"] == 3
    # judge: only the counted attempts' steps are pending
    counted = set(runs.frame["attempt_id"])
    assert {r["attempt_id"] for r in pending_steps(s, "llm:other", None)} == counted
    # kappa: only the counted attempt's verdicts (r0's old attempt is ignored)
    j = tables.load_judgements(s)
    assert set(j["attempt_id"]) <= counted and len(j) == 2
    tab, _ = agreement.judge_agreement(j)
    assert tab["n"].iloc[0] == 2
    json.dumps(s.results())
    s.close()


def test_bulk_readers_match_the_step_results_view(small_store):
    """``load_steps``, ``load_judgements`` and ``detector_signatures`` read ``steps``/``judgements``
    directly and narrow them to the counted attempts themselves (the view's join per row is slow):
    the same rows, values and order as reading through ``step_results`` (aborted attempts left out)."""
    db = tables.connect(small_store)
    assert db.execute("SELECT COUNT(*) FROM steps").fetchone()[0] > db.execute(
        "SELECT COUNT(*) FROM step_results").fetchone()[0]  # there are non-counted steps to leave out
    runs = tables.load_runs(db).frame
    view = pd.read_sql_query("SELECT attempt_id, step, outcome, detectors_json, context_tokens FROM step_results "
                             "ORDER BY run_id, step", db)
    steps = tables.load_steps(db, runs, extra=["context_tokens"], signatures=True)
    by_attempt = view.sort_values(["attempt_id", "step"]).reset_index(drop=True)
    assert steps["attempt_id"].tolist() == by_attempt["attempt_id"].tolist()
    assert steps["step"].tolist() == by_attempt["step"].tolist()
    assert list(tables.outcome_label(steps["outcome"]).astype(str)) == by_attempt["outcome"].tolist()
    assert steps["context_tokens"].tolist() == by_attempt["context_tokens"].astype(float).tolist()
    assert steps["sig"].tolist() == [tables._signature(v) for v in by_attempt["detectors_json"]]
    assert steps["sig"].str.contains("|", regex=False).all()  # two detectors per step in the generator
    sig = tables.detector_signatures(db, runs, steps)
    assert list(zip(sig["attempt_id"], sig["step"])) == list(zip(view["attempt_id"], view["step"]))
    pd.testing.assert_frame_equal(sig, tables.detector_signatures(db))  # its own read: the same
    via_view = pd.read_sql_query(
        """SELECT j.attempt_id, j.step, j.judge, j.outcome AS judge_outcome, j.rationale,
                  s.outcome AS detector_outcome, s.detector, s.run_id, s.model_id, s.scenario_id, s.condition
           FROM judgements j JOIN step_results s ON s.attempt_id = j.attempt_id AND s.step = j.step
           ORDER BY j.judge, j.attempt_id, j.step""", db)
    assert len(via_view) > 0
    pd.testing.assert_frame_equal(tables.load_judgements(db), via_view)
