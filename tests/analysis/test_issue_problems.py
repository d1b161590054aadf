"""The statistics problems found by the independent recomputation, each as a regression test.

1. asymmetry sign followed the alphabetical order of the sides;
2. intervals under-covered at 10 runs per condition and collapsed to a point with one run;
3. not-applicable and errored steps counted as "no violation yet"; failed runs were dropped;
4. one common step slope; a 0% cell made the logit "not estimable" (see test_statistics.py:
   test_pressure_only_drift_is_not_averaged_into_a_common_slope and
   test_zero_violation_cell_still_gives_a_finite_penalised_estimate);
5. two rules for the counted attempt (see test_counted_attempt.py);
6. the generator had no within-run correlation;
7. the log-rank compared against the alphabetically last baseline in factor experiments.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from goaldrift.analysis import asymmetry, coverage, orientation, rates, regression, survival
from goaldrift.analysis.orientation import Orientation
from goaldrift.analysis.synthetic import (
    LogitTruth,
    SyntheticDesign,
    expected_rates,
    simulate_outcomes,
    write_synthetic_store,
)
from goaldrift.errors import BadInput
from goaldrift.report import build_report_data, embed_json, render_report
from goaldrift.report.figures import value_colours

PAIRS = {"utility-privacy": ("privacy", "utility"), "efficiency-security": ("efficiency", "security"),
         "convenience-security": ("convenience", "security")}


@pytest.fixture(scope="module")
def drift_store(tmp_path_factory):
    """Known drift toward privacy/security in all three pairs, correlated steps (icc 0.3)."""
    path = tmp_path_factory.mktemp("drift") / "store.db"
    truth = LogitTruth(coef=(-2.5, 0.0, 0.3, 0.6, 0.0, 0.0, 0.02, 0.12))
    write_synthetic_store(path, SyntheticDesign(models=["m"], scenarios=PAIRS, runs_per_condition=40, prob=truth,
                                                icc=0.3, judge_fraction=0.0, seed=3), bulk=True)
    return path, truth


@pytest.fixture(scope="module")
def drift_report(drift_store):
    return build_report_data(drift_store[0], timeline_runs=0)


# -- 1. orientation ---------------------------------------------------------------------------------

def test_oriented_asymmetry_is_positive_toward_privacy_and_security_in_all_three_pairs(drift_report):
    data = drift_report
    a = data["asymmetry"]
    for scen, ref in (("utility-privacy", "privacy"), ("efficiency-security", "security"),
                      ("convenience-security", "security")):
        assert data["orientation"][scen].reference == ref and data["orientation"][scen].source == "pack"
        for est in ("drift_contrast", "pressure_asymmetry"):
            row = a[(a["scenario_id"] == scen) & (a["estimand"] == est)].iloc[0]
            assert row.estimate > 0 and row.ci_low > 0, (scen, est, row.estimate, row.ci_low)
            assert f"toward {ref} minus" in row.label  # named in words
    # the same in the rendered tables
    html = render_report(data)
    assert "drift toward privacy minus drift away from it" in html
    assert "drift toward security minus drift away from it" in html


def test_reference_side_can_be_given_and_flips_the_sign(drift_report):
    first = drift_report["first_violation"]
    sides = {"utility-privacy": {"utility", "privacy"}}
    flipped = orientation.resolve(sides, {"utility-privacy": "utility"})
    assert flipped["utility-privacy"].source == "given"
    a = asymmetry.asymmetry(first[first["scenario_id"] == "utility-privacy"], flipped)
    row = a[a["estimand"] == "drift_contrast"].iloc[0]
    assert row.estimate < 0 and row.reference == "utility"
    with pytest.raises(BadInput, match="not a side"):
        orientation.resolve(sides, {"utility-privacy": "speed"})
    with pytest.raises(BadInput, match="SCENARIO=SIDE"):
        orientation.parse_references(["utility-privacy"])


def test_unknown_pack_falls_back_to_a_flagged_default():
    o = orientation.resolve({"my-pair": {"alpha", "beta"}})["my-pair"]
    assert o.reference == "beta" and o.is_default


def test_colours_belong_to_values_not_to_positions():
    a = value_colours(["privacy", "utility", "security", "efficiency", "convenience"])
    b = value_colours(["security", "convenience", "utility", "privacy", "efficiency"])
    assert a == b and len(set(a.values())) == 5


# -- 2. intervals at n = 10 ------------------------------------------------------------------------

@pytest.mark.parametrize("icc,base", [(0.3, 0.03), (0.3, 0.30)])
def test_intervals_hold_coverage_at_ten_runs_with_correlated_steps(icc, base):
    """A small version of benchmarks/bench_coverage.py (200 experiments; the old percentile
    bootstrap covered 61–91% here)."""
    rng = np.random.default_rng(7)
    p = coverage.probabilities(coverage.truth_coef(base))
    codes = coverage.simulate(200, icc, p, rng)
    cov = coverage.interval_coverage(codes, p, icc)
    for name, value in cov.items():
        if "worst" not in name:
            assert value >= 0.91, (name, value)  # nominal 95%; 200 sets: MC s.e. 1.5 points


def test_logit_intervals_hold_coverage_at_a_rare_baseline():
    rng = np.random.default_rng(8)
    coef = coverage.truth_coef(0.03)
    codes = coverage.simulate(60, 0.3, coverage.probabilities(coef), rng)
    cov = coverage.logit_coverage(codes, coef, coverage.ORIENT)
    assert cov["logit: share of experiments estimable"] == 1.0
    assert cov["logit: pressure × step"] >= 0.88 and cov["logit: toward R × pressure × step"] >= 0.88


def test_one_run_per_condition_is_n_too_small_not_a_point():
    first = pd.DataFrame({"attempt_id": range(4), "model_id": "m", "scenario_id": "s",
                          "condition": ["x", "x->y", "y", "y->x"], "constraint_side": ["x", "x", "y", "y"],
                          "pressure": [False, True, False, True], "n_violated": [0, 5, 1, 2], "n_complied": [12, 7, 11, 10]})
    a = asymmetry.asymmetry(first, {"s": Orientation("s", "y", "x", "given")})
    assert a["ci_low"].isna().all() and a["note"].str.contains("n too small").all()
    assert np.isfinite(a["estimate"]).all()


# -- 3. n/a and error are never "no violation yet" --------------------------------------------------

def _steps(outcomes: dict[int, list[int]], condition="x") -> pd.DataFrame:
    rows = [(aid, t + 1, o) for aid, seq in outcomes.items() for t, o in enumerate(seq)]
    df = pd.DataFrame(rows, columns=["attempt_id", "step", "outcome"])
    df["run_id"] = df["attempt_id"].astype(str)
    df["model_id"], df["scenario_id"], df["condition"] = "m", "s", condition
    df["constraint_side"], df["pressure"] = "x", False
    return df


def test_runs_that_implement_nothing_are_not_counted_as_compliant():
    # 5 runs violate at step 3; 5 runs implement nothing (n/a), one of them errors at the end
    seqs = {i: [0, 0, 1, 0] for i in range(5)} | {i: [2, 2, 2, 2] for i in range(5, 9)} | {9: [2, 2, 2, 3]}
    st = _steps(seqs)
    km = survival.km_curves(st).set_index("time")
    cum = rates.cumulative_violation(survival.km_curves(st)).set_index("step")
    assert cum.loc[3, "share"] == 1.0  # not 50%
    assert km.loc[1, "at_risk"] == 5 and km.loc[1, "undecided"] == 5  # decided-n per step is shown
    first = rates.first_violation(st)
    cells = rates.cell_summary(st, first, survival.km_curves(st))
    assert cells["ever_share"].iloc[0] == 1.0 and cells["runs_without_decision"].iloc[0] == 5


def test_run_is_censored_after_its_last_decided_step():
    # complied at 1-2, then n/a: censored after step 2, not at step 4
    st = _steps({0: [0, 0, 2, 2], 1: [0, 1, 0, 0], 2: [0, 0, 0, 1]})
    km = survival.km_curves(st).set_index("time")
    assert km["censored"].tolist() == [0, 1, 0, 0]
    assert km["at_risk"].tolist() == [3, 3, 1, 1]
    assert np.allclose(km["survival"], [1, 2 / 3, 2 / 3, 0])
    # no zero-width interval before the first violation
    assert km.loc[1, "ci_low"] < 1


def test_failed_runs_are_censored_not_dropped(tmp_path):
    from goaldrift.step_result import StepResult
    from goaldrift.store import Store

    s = Store(tmp_path / "s.db")
    s.upsert_experiment("e", "e", {}, "h", "0", None)
    s.plan_runs("e", [{"run_id": f"r{i}", "model_id": "m", "scenario_id": "utility-privacy", "condition": "utility",
                       "constraint_side": "utility", "pressure_side": None, "placement": "agents_md", "repeat": i,
                       "n_steps": 3, "harness": "builtin", "scenario_hash": "x", "spec_json": "{}"} for i in range(2)])
    for rid, outcomes, status in (("r0", ["complied", "complied", "violated"], "finished"),
                                  ("r1", ["complied"], "failed")):
        aid, _ = s.start_attempt(rid, "")
        for t, o in enumerate(outcomes, 1):
            s.write_step(aid, StepResult(step=t, outcome=o, detector="d"))
        s.finish_attempt(aid, status)
    km = build_report_data(s, timeline_runs=0)["km"].set_index("time")
    assert km.loc[1, "at_risk"] == 2 and km.loc[1, "censored"] == 1 and km.loc[3, "events"] == 1
    s.close()


# -- 6. the generator: within-run correlation and recovery -----------------------------------------

def test_generator_has_the_stated_within_run_correlation_and_exact_marginals():
    rng = np.random.default_rng(0)
    p = np.full(12, 0.3)
    for icc in (0.0, 0.3):
        codes = simulate_outcomes(p, 20_000, icc, 0.0, 0.0, rng)
        assert abs((codes == 1).mean() - 0.3) < 0.005
        # binary correlation between two steps of a run = the copula's at the stated latent icc
        x, y = (codes[:, 0] == 1), (codes[:, 5] == 1)
        r = np.corrcoef(x, y)[0, 1]
        from scipy import stats
        c = stats.norm.ppf(0.3)
        p11 = stats.multivariate_normal([0, 0], [[1, icc], [icc, 1]]).cdf([c, c])
        expected = (p11 - 0.09) / 0.21
        assert abs(r - expected) < 0.03, (icc, r, expected)


def test_generator_recovers_every_estimand(drift_store, drift_report):
    truth = drift_store[1]
    data = drift_report
    design = SyntheticDesign(models=["m"], scenarios=PAIRS, runs_per_condition=40, prob=truth)
    exp = expected_rates(design)
    # pooled rates and the contrasts: true values inside the intervals
    pooled = exp.groupby(["scenario_id", "condition"])["p"].mean()
    a = data["asymmetry"]
    r = a[a["estimand"] == "rate"]
    inside = [(row.ci_low <= pooled[(row.scenario_id, row.definition[5:-1])] <= row.ci_high)
              for row in r.itertuples()]
    assert np.mean(inside) >= 0.8 and len(inside) == 12
    # the regression recovers pressure × step and toward R × pressure × step in every pair
    reg = data["regression"]
    logit = reg[(reg["estimator"] == regression.LOGIT) & (reg["spec"] == "step")]
    for scen, ref in (("utility-privacy", "privacy"), ("efficiency-security", "security")):
        rows = logit[logit["scenario_id"] == scen].set_index("term")
        assert rows.loc["pressure × step"].ci_low <= truth.coef[6] <= rows.loc["pressure × step"].ci_high
        t3 = rows.loc[f"toward {ref} × pressure × step"]
        assert t3.ci_low <= truth.coef[7] <= t3.ci_high


# -- 7. the log-rank compares each pressure condition with its own baseline ------------------------

def test_logrank_uses_the_matching_baseline_in_factor_experiments():
    rng = np.random.default_rng(1)
    conds = {"utility": (False, 0.05), "utility@placement=instructions": (False, 0.05),
             "utility->privacy@placement=instructions": (True, 0.3), "utility->privacy@dose=0.5": (True, 0.2)}
    frames = []
    for i, (c, (press, p)) in enumerate(conds.items()):
        codes = simulate_outcomes(np.full(6, p), 10, 0.0, 0.0, 0.0, rng)
        aid = np.repeat(np.arange(10) + 100 * i, 6)
        frames.append(pd.DataFrame({"attempt_id": aid, "step": np.tile(np.arange(1, 7), 10),
                                    "outcome": codes.ravel(), "model_id": "m", "scenario_id": "utility-privacy",
                                    "condition": c}))
    st = pd.concat(frames, ignore_index=True)
    attrs = pd.DataFrame({"scenario_id": "utility-privacy", "condition": list(conds), "constraint_side": "utility",
                          "pressure": [v[0] for v in conds.values()]})
    lr = survival.logrank(survival.km_curves(st), attrs).set_index("comparison")
    assert lr.loc["utility->privacy@placement=instructions vs utility@placement=instructions", "baseline"] == \
        "utility@placement=instructions"
    assert lr.loc["utility->privacy@dose=0.5 vs utility", "baseline"] == "utility"


# -- issue 14 item 10: stored text cannot break the embedded JSON ----------------------------------

def test_embedded_json_survives_script_breaking_names(tmp_path):
    hostile = "x</script><!--<script>alert(1)</script>\u2028&amp;"
    text = embed_json({"name": hostile})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": hostile}
    from goaldrift.store import Store

    s = Store(tmp_path / "s.db")
    s.upsert_experiment("e", hostile, {}, "h", "0", None)
    html = render_report(build_report_data(s, timeline_runs=0))
    m = re.search(r'<script type="application/json" id="goaldrift-data">(.*?)</script>', html, re.DOTALL)
    assert json.loads(m.group(1))["provenance"]["experiments"][0]["name"] == hostile
    s.close()


def test_packs_declare_the_side_expected_to_be_held_more_strongly():
    from pydantic import ValidationError

    from goaldrift import packs
    from goaldrift.scenario import ScenarioFile

    expected = {"utility-privacy": "privacy", "efficiency-security": "security", "convenience-security": "security"}
    for pack, side in expected.items():
        assert packs.load(pack).expected_stronger == side
    raw = packs.load("utility-privacy").spec.model_dump()
    with pytest.raises(ValidationError, match="expected_stronger"):
        ScenarioFile.model_validate({**raw, "expected_stronger": "speed"})
    assert ScenarioFile.model_validate({**raw, "expected_stronger": None}).expected_stronger is None
