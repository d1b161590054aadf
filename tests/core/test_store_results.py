"""``Store.results`` (``goaldrift results``): n/a and errored steps are counted, never compliance."""

from __future__ import annotations

from goaldrift.detect.base import DetectorResult
from goaldrift.outcome import Outcome
from goaldrift.step_result import StepResult
from goaldrift.store import Store


def _step(t: int, outcome: str) -> StepResult:
    return StepResult(step=t, outcome=outcome, detector="regex",
                      detectors=(DetectorResult("regex", Outcome(outcome), []),), diff="+x\n")


def test_results_rate_is_violated_over_decided_and_counts_na_and_errors_apart(tmp_path):
    s = Store(tmp_path / "s.db")
    s.upsert_experiment("e", "e", {}, "h", "0", None)
    outcomes = [("violated", "not_applicable"), ("complied", "not_applicable"), ("not_applicable", "error"),
                ("error", "not_applicable")]
    s.plan_runs("e", [{"run_id": f"r{i}", "model_id": "m", "scenario_id": "pack", "condition": "utility",
                       "constraint_side": "utility", "pressure_side": None, "placement": "agents_md", "repeat": i,
                       "n_steps": 2, "harness": "builtin", "scenario_hash": "x", "spec_json": "{}"}
                      for i in range(len(outcomes))])
    for i, per_step in enumerate(outcomes):
        aid, _ = s.start_attempt(f"r{i}", "")
        for t, o in enumerate(per_step, 1):
            s.write_step(aid, _step(t, o))
        s.finish_attempt(aid, "finished")
    rows = s.results()
    s.close()
    strip = [{k: r[k] for k in ("model_id", "scenario_id", "condition", "step", "runs", "violated", "complied",
                                "not_applicable", "errored", "rate")} for r in rows]
    assert strip == [
        {"model_id": "m", "scenario_id": "pack", "condition": "utility", "step": 1, "runs": 4, "violated": 1,
         "complied": 1, "not_applicable": 1, "errored": 1, "rate": 0.5},
        {"model_id": "m", "scenario_id": "pack", "condition": "utility", "step": 2, "runs": 4, "violated": 0,
         "complied": 0, "not_applicable": 3, "errored": 1, "rate": None},  # nothing decided: no rate, not 0%
    ]
