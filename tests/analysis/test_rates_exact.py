"""Rates, intervals and the first-violation tables, value by value on small hand-made data.

Each table is checked whole (every column, every row) so that a wrong column, a swapped limit or a
lost cell cannot pass. Intervals are checked by the equation that defines them or against published
values, not against a copy of the formula.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from goaldrift.analysis import asymmetry, intervals, rates, survival

V, C, NA, E = 1, 0, 2, 3  # outcome codes of analysis.tables
Z = stats.norm.ppf(0.975)


def steps_frame(rows):
    """rows: (attempt_id, condition, step, outcome); two conditions with their attributes."""
    df = pd.DataFrame(rows, columns=["attempt_id", "condition", "step", "outcome"])
    df["run_id"] = "r" + df["attempt_id"].astype(str)
    df["model_id"], df["scenario_id"] = "m1", "pack"
    df["constraint_side"] = df["condition"].map({"privacy": "privacy", "privacy->utility": "privacy"})
    df["pressure"] = df["condition"].str.contains("->")
    return df


# Runs 1-3 under "privacy", 4-5 under "privacy->utility"; three steps each.
STEPS = steps_frame([
    (1, "privacy", 1, C), (1, "privacy", 2, V), (1, "privacy", 3, C),
    (2, "privacy", 1, NA), (2, "privacy", 2, NA), (2, "privacy", 3, NA),
    (3, "privacy", 1, C), (3, "privacy", 2, E), (3, "privacy", 3, C),
    (4, "privacy->utility", 1, V), (4, "privacy->utility", 2, V), (4, "privacy->utility", 3, NA),
    (5, "privacy->utility", 1, NA), (5, "privacy->utility", 2, C), (5, "privacy->utility", 3, V),
])


# -- intervals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (3, 10), (7, 10), (10, 10), (81, 263), (2.5, 7.5)])
def test_continuity_corrected_wilson_limits_solve_the_corrected_score_equation(k, n):
    """Newcombe's method 4: a limit π solves |p̂ − π| − 1/(2n) = z·√(π(1 − π)/n) (or is 0 / 1)."""
    lo, hi = intervals.wilson(k, n, continuity=True)
    p = k / n
    if k > 0:
        assert (p - lo) - 1 / (2 * n) == pytest.approx(Z * np.sqrt(lo * (1 - lo) / n), abs=1e-9)
    else:
        assert lo == 0
    if k < n:
        assert (hi - p) - 1 / (2 * n) == pytest.approx(Z * np.sqrt(hi * (1 - hi) / n), abs=1e-9)
    else:
        assert hi == 1
    plain_lo, plain_hi = intervals.wilson(k, n)
    assert lo <= plain_lo and hi >= plain_hi  # the correction only widens
    if 0 < k < n:
        assert lo < plain_lo and hi > plain_hi


def test_wilson_takes_a_quantile_per_element_and_a_confidence_level():
    k, n = np.array([3.0, 3.0]), np.array([10.0, 10.0])
    z = np.array([1.0, 3.0])
    lo, hi = intervals.wilson(k, n, z=z)
    for i in range(2):  # (p̂ − π)² = z²π(1 − π)/n at both limits
        for limit in (lo[i], hi[i]):
            assert (0.3 - limit) ** 2 == pytest.approx(z[i] ** 2 * limit * (1 - limit) / 10, abs=1e-12)
    assert hi[1] - lo[1] > hi[0] - lo[0]
    lo90, hi90 = intervals.wilson(3, 10, conf=0.90)
    lo95, hi95 = intervals.wilson(3, 10)
    assert lo95 < lo90 < 0.3 < hi90 < hi95


def test_wilson_of_an_empty_denominator_is_nan_with_or_without_correction():
    for cc in (False, True):
        lo, hi = intervals.wilson(np.array([0, 0, 4]), np.array([0, 4, 4]), continuity=cc)
        assert np.isnan(lo[0]) and np.isnan(hi[0])
        assert lo[1] == 0 and 0 < hi[1] < 1 and 0 < lo[2] < 1 and hi[2] == 1


@pytest.mark.parametrize("a,n1,b,n2,low,high", [
    # Newcombe (1998), Stat Med 17:873, Table II, method 10 (score, no continuity correction)
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
])
def test_mover_difference_of_wilson_intervals_is_newcombes_method_10(a, n1, b, n2, low, high):
    lo, hi = intervals.wilson(np.array([a, b]), np.array([n1, n2]))
    est, l_, h = intervals.mover([1, -1], [a / n1, b / n2], lo, hi)
    assert est == pytest.approx(a / n1 - b / n2)
    assert l_ == pytest.approx(low, abs=1e-4) and h == pytest.approx(high, abs=1e-4)
    # the same difference written the other way round is the mirrored interval
    est2, l2, h2 = intervals.mover([-1, 1], [a / n1, b / n2], lo, hi)
    assert (est2, l2, h2) == pytest.approx((-est, -h, -l_))


def test_mover_of_one_term_is_that_terms_interval_and_a_missing_interval_is_nan():
    assert intervals.mover([1.0], [0.3], [0.1], [0.6]) == pytest.approx((0.3, 0.1, 0.6))
    assert intervals.mover([2.0], [0.3], [0.1], [0.6]) == pytest.approx((0.6, 0.2, 1.2))
    est, lo, hi = intervals.mover([1, -1], [0.3, 0.2], [0.1, np.nan], [0.5, 0.4])
    assert est == pytest.approx(0.1) and np.isnan(lo) and np.isnan(hi)


def run_sums(per_run):
    """(violated, decided) per run -> clustered_rate's arguments."""
    v = np.array([x[0] for x in per_run], float)
    d = np.array([x[1] for x in per_run], float)
    p = v.sum() / d.sum()
    return v.sum(), d.sum(), ((v - p * d) ** 2).sum(), int((d > 0).sum())


def test_clustered_rate_counts_runs_not_steps_when_steps_move_together():
    """3 of 10 runs violate at all 12 steps, 7 never: the information is about 10 runs, not 120
    steps, so the interval is about as wide as a Wilson interval for 3 of 10 — pooling the steps
    (the bug of resampling steps instead of runs) would give the far narrower Wilson for 36 of 120."""
    ci = intervals.clustered_rate(*run_sums([(12, 12)] * 3 + [(0, 12)] * 7))
    assert ci["rate"] == pytest.approx(0.3)
    assert ci["n_eff"] == pytest.approx(9.0)  # G/(G−1) small-sample factor: 10 runs → 9
    assert ci["deff"] == pytest.approx(120 / 9)
    lo, hi = intervals.wilson(2.7, 9.0, z=stats.t.ppf(0.975, 9))
    assert (float(ci["ci_low"]), float(ci["ci_high"])) == pytest.approx((float(lo), float(hi)))
    naive_lo, naive_hi = intervals.wilson(36, 120)
    assert ci["ci_high"] - ci["ci_low"] > 2.5 * (naive_hi - naive_lo)


def test_clustered_rate_with_evenly_spread_violations_keeps_every_step():
    """Each run violates 3 of its 10 steps: no extra between-run variance, the design effect is
    floored at 1 and the interval is the Wilson interval of all steps (t quantile on G − 1 df)."""
    ci = intervals.clustered_rate(*run_sums([(3, 10)] * 8))
    assert ci["deff"] == 1.0 and ci["n_eff"] == pytest.approx(80)
    lo, hi = intervals.wilson(24, 80, z=stats.t.ppf(0.975, 7))
    assert (float(ci["ci_low"]), float(ci["ci_high"])) == pytest.approx((float(lo), float(hi)))


def test_clustered_rate_at_zero_violations_is_not_degenerate():
    ci = intervals.clustered_rate(*run_sums([(0, 10)] * 10))
    assert ci["rate"] == 0 and ci["ci_low"] == 0 and 0 < ci["ci_high"] < 0.2 and ci["deff"] == 1.0


def test_clustered_rate_needs_two_runs_with_decisions():
    one_run = intervals.clustered_rate(*run_sums([(3, 10)]))
    assert one_run["rate"] == pytest.approx(0.3) and np.isnan(one_run["ci_low"]) and np.isnan(one_run["ci_high"])
    nothing = intervals.clustered_rate(0.0, 0.0, 0.0, 0)
    assert np.isnan(nothing["rate"]) and np.isnan(nothing["ci_low"])
    two = intervals.clustered_rate(*run_sums([(3, 10), (1, 10)]))
    assert 0 < two["ci_low"] < 0.2 < two["ci_high"] < 1


def test_condition_rates_cluster_by_run_and_leave_runs_without_decisions_out():
    """The per-condition rate behind every contrast: its clusters are the runs with a decided step —
    3 runs violating at all 12 steps, 7 complying at all 12, 1 with only n/a steps: G = 10, not 11
    runs and not 120 decided steps — and its interval is ``clustered_rate`` of exactly those sums."""
    per_run = [(12, 12)] * 3 + [(0, 12)] * 7 + [(0, 0)]
    first = pd.DataFrame({"model_id": "m", "scenario_id": "s", "condition": "utility->privacy",
                          "constraint_side": "utility", "pressure": "privacy",
                          "n_violated": [v for v, _ in per_run], "n_complied": [d - v for v, d in per_run]})
    [row] = asymmetry.condition_rates(first).to_dict("records")
    assert (row["runs"], row["violated"], row["decided"]) == (10, 36, 120)
    expected = intervals.clustered_rate(*run_sums(per_run))
    assert expected["n_eff"] == pytest.approx(9.0)
    for key in ("rate", "ci_low", "ci_high", "deff"):
        assert row[key] == pytest.approx(float(expected[key])), key
    assert row["note"] == ""


# -- step rates, first violation, cumulative and summary tables -------------------------------------

def test_step_rates_table_value_by_value():
    sr = rates.step_rates(STEPS)
    assert list(sr.columns) == ["model_id", "scenario_id", "condition", "step", "runs", "violated", "complied",
                                "not_applicable", "errored", "decided", "rate", "ci_low", "ci_high",
                                "constraint_side", "pressure"]
    got = sr[["condition", "step", "runs", "violated", "complied", "not_applicable", "errored", "decided"]]
    assert [tuple(r) for r in got.itertuples(index=False)] == [
        ("privacy", 1, 3, 0, 2, 1, 0, 2), ("privacy", 2, 3, 1, 0, 1, 1, 1), ("privacy", 3, 3, 0, 2, 1, 0, 2),
        ("privacy->utility", 1, 2, 1, 0, 1, 0, 1), ("privacy->utility", 2, 2, 1, 1, 0, 0, 2),
        ("privacy->utility", 3, 2, 1, 0, 1, 0, 1)]
    assert sr["rate"].tolist() == [0, 1, 0, 1, 0.5, 1]
    lo, hi = intervals.wilson(sr["violated"], sr["decided"], continuity=True)
    assert np.allclose(sr["ci_low"], lo) and np.allclose(sr["ci_high"], hi)
    assert sr["ci_low"].iloc[0] == 0 and sr["ci_high"].iloc[1] == 1 and 0 < sr["ci_low"].iloc[4] < 0.5
    assert sr["constraint_side"].tolist() == ["privacy"] * 6
    assert sr["pressure"].tolist() == [False] * 3 + [True] * 3
    assert (sr["model_id"] == "m1").all() and (sr["scenario_id"] == "pack").all()


def test_step_rates_of_a_step_without_decisions_has_no_rate_and_no_interval():
    st = steps_frame([(1, "privacy", 1, NA), (2, "privacy", 1, E)])
    r = rates.step_rates(st).iloc[0]
    assert (r.runs, r.decided, r.not_applicable, r.errored) == (2, 0, 1, 1)
    assert np.isnan(r.rate) and np.isnan(r.ci_low) and np.isnan(r.ci_high)


def test_step_rates_without_condition_attributes_has_only_the_counted_columns():
    st = STEPS.drop(columns=["constraint_side", "pressure"])
    sr = rates.step_rates(st)
    assert "constraint_side" not in sr and "pressure" not in sr and len(sr) == 6


def test_first_violation_table_value_by_value():
    fv = rates.first_violation(STEPS).set_index("attempt_id")
    assert list(fv.reset_index().columns) == [
        "attempt_id", "run_id", "model_id", "scenario_id", "condition", "constraint_side", "pressure",
        "first_step", "last_step", "last_decided", "n_violated", "n_complied", "n_not_applicable", "n_error",
        "first_violation", "violated"]
    assert fv["first_violation"].tolist()[:1] == [2] and np.isnan(fv.loc[[2, 3], "first_violation"]).all()
    assert fv.loc[[4, 5], "first_violation"].tolist() == [1, 3]
    assert fv["violated"].tolist() == [True, False, False, True, True]  # n/a-only run 2 did not violate...
    assert np.isnan(fv.loc[2, "last_decided"])  # ...and has no decided step at all
    assert fv["last_decided"].tolist()[2:] == [3, 2, 3] and fv.loc[1, "last_decided"] == 3
    assert fv["first_step"].tolist() == [1] * 5 and fv["last_step"].tolist() == [3] * 5
    counts = fv[["n_violated", "n_complied", "n_not_applicable", "n_error"]]
    assert [tuple(r) for r in counts.itertuples(index=False)] == [
        (1, 2, 0, 0), (0, 0, 3, 0), (0, 2, 0, 1), (2, 0, 1, 0), (1, 1, 1, 0)]
    assert fv["run_id"].tolist() == ["r1", "r2", "r3", "r4", "r5"]
    assert fv["condition"].tolist() == ["privacy"] * 3 + ["privacy->utility"] * 2
    assert fv["pressure"].tolist() == [False] * 3 + [True] * 2
    assert (fv["model_id"] == "m1").all() and (fv["scenario_id"] == "pack").all()


def test_first_violation_uses_the_earliest_violated_step_whatever_the_row_order():
    st = steps_frame([(1, "privacy", 3, V), (1, "privacy", 1, C), (1, "privacy", 2, V)])
    fv = rates.first_violation(st).iloc[0]
    assert (fv.first_violation, fv.first_step, fv.last_step, fv.last_decided) == (2, 1, 3, 3)


def test_cumulative_violation_is_one_minus_km_with_the_limits_swapped():
    km = survival.km_curves(STEPS)
    cum = rates.cumulative_violation(km)
    assert list(cum.columns) == ["model_id", "scenario_id", "condition", "step", "at_risk", "events", "censored",
                                 "undecided", "runs", "share", "ci_low", "ci_high"]
    assert cum["step"].tolist() == km["time"].tolist()
    for col in ("at_risk", "events", "censored", "undecided", "runs", "condition", "model_id", "scenario_id"):
        assert cum[col].tolist() == km[col].tolist(), col
    assert np.allclose(cum["share"], 1 - km["survival"])
    assert np.allclose(cum["ci_low"], 1 - km["ci_high"]) and np.allclose(cum["ci_high"], 1 - km["ci_low"])
    assert (cum["ci_low"] <= cum["share"]).all() and (cum["share"] <= cum["ci_high"]).all()
    # privacy: at step 2 only run 1 is at risk (run 2 never decides, run 3 errored) and it violates:
    # S = 0 there; run 3 complies at step 3 and is censored after it
    p = cum[cum["condition"] == "privacy"]
    assert p["at_risk"].tolist() == [2, 1, 1] and p["events"].tolist() == [0, 1, 0]
    assert p["censored"].tolist() == [0, 0, 1] and p["undecided"].tolist() == [1, 2, 1]
    assert p["share"].tolist() == pytest.approx([0, 1, 1]) and p["runs"].tolist() == [3, 3, 3]


def test_cell_summary_value_by_value():
    first = rates.first_violation(STEPS)
    cs = rates.cell_summary(STEPS, first, survival.km_curves(STEPS))
    assert list(cs.columns) == [
        "model_id", "scenario_id", "condition", "runs", "runs_without_decision", "violated", "complied",
        "not_applicable", "errored", "decided", "rate", "ever_share", "ever_ci_low", "ever_ci_high"]
    cs = cs.set_index("condition")
    p, q = cs.loc["privacy"], cs.loc["privacy->utility"]
    assert (p.runs, p.runs_without_decision, p.violated, p.complied, p.not_applicable, p.errored, p.decided) == \
        (3, 1, 1, 4, 3, 1, 5)
    assert (q.runs, q.runs_without_decision, q.violated, q.complied, q.not_applicable, q.errored, q.decided) == \
        (2, 0, 3, 1, 2, 0, 4)
    assert p.rate == pytest.approx(1 / 5) and q.rate == pytest.approx(3 / 4)  # n/a and errors not in the denominator
    # violated by the last step (1 − KM): every run at risk at its first violation violated
    assert p.ever_share == pytest.approx(1.0) and q.ever_share == pytest.approx(1.0)
    assert 0 < p.ever_ci_low < 1 and p.ever_ci_high == 1 and 0 < q.ever_ci_low < 1 and q.ever_ci_high == 1
    assert p.model_id == "m1" and p.scenario_id == "pack"


def test_cell_summary_of_a_cell_without_decisions_has_no_rate():
    st = steps_frame([(1, "privacy", 1, NA), (2, "privacy", 1, E)])
    first = rates.first_violation(st)
    cs = rates.cell_summary(st, first, survival.km_curves(st)).iloc[0]
    assert (cs.runs, cs.runs_without_decision, cs.decided) == (2, 2, 0) and np.isnan(cs.rate)
    assert cs.ever_share == 0 and (cs.ever_ci_low, cs.ever_ci_high) == (0, 1)  # no information: [0, 1]


def test_wilson_of_a_single_observation_has_both_limits():
    for cc in (False, True):
        lo, hi = intervals.wilson(np.array([0.0, 1.0]), np.array([1.0, 1.0]), continuity=cc)
        assert lo[0] == 0 and 0.5 < hi[0] < 1 and 0 < lo[1] < 0.5 and hi[1] == 1


def test_first_violation_counts_are_integers_and_steps_are_numbers():
    """Counts are written to the CSV tables as they are: a float count would print as "3.0"; the
    step columns are floats with NaN for "none", never Python objects."""
    fv = rates.first_violation(STEPS)
    for col in ("n_violated", "n_complied", "n_not_applicable", "n_error"):
        assert pd.api.types.is_integer_dtype(fv[col]), col
    for col in ("first_violation", "first_step", "last_step", "last_decided"):
        assert pd.api.types.is_float_dtype(fv[col]), col


def test_cell_summary_of_a_single_decided_step_and_of_a_curve_that_stays_high():
    """One decided step is enough for a pooled rate; "violated by the last step" of a cell where 1 of 10
    runs violated has an upper limit below 1, = 1 − the KM curve's lower limit."""
    rows = [(1, "privacy", 1, V), (1, "privacy", 2, NA)]
    rows += [(10 + i, "privacy->utility", 1, V if i == 0 else C) for i in range(10)]
    st = steps_frame(rows)
    km = survival.km_curves(st)
    cs = rates.cell_summary(st, rates.first_violation(st), km).set_index("condition")
    p, q = cs.loc["privacy"], cs.loc["privacy->utility"]
    assert (p.decided, p.rate) == (1, 1.0)
    assert (q.decided, q.rate) == (10, pytest.approx(0.1))
    last = km[km["condition"] == "privacy->utility"].iloc[-1]
    assert 0 < last.ci_low < last.survival < last.ci_high
    assert (q.ever_share, q.ever_ci_low, q.ever_ci_high) == pytest.approx(
        (1 - last.survival, 1 - last.ci_high, 1 - last.ci_low))
    assert q.ever_ci_low < q.ever_share < q.ever_ci_high < 1


def test_wilson_of_int32_counts_equals_that_of_the_same_counts_as_floats():
    """Counts arrive as int32 columns; n·n of 60 000 decided steps overflows int32, so the counts must
    be taken as floats before any arithmetic."""
    k, n = np.array([30_000, 3], dtype=np.int32), np.array([60_000, 10], dtype=np.int32)
    for cc in (False, True):
        lo, hi = intervals.wilson(k, n, continuity=cc)
        flo, fhi = intervals.wilson(k.astype(float), n.astype(float), continuity=cc)
        assert lo.tolist() == flo.tolist() and hi.tolist() == fhi.tolist()
