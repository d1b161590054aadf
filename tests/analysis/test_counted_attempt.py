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
