"""The report's log-rank table and the vectorised/categorical paths of the rate tables, value by value.

``survival.logrank`` is checked against ``logrank_from_counts`` on the conditions each row names
(itself checked against the textbook and lifelines in ``test_statistics``), so a wrong comparison,
baseline, count or note cannot pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from goaldrift.analysis import intervals, rates, survival

V, C, NA = 1, 0, 2


def frame(per_condition: dict[str, list[list[int]]]) -> pd.DataFrame:
    """{condition: [outcomes of run 1 by step, run 2, ...]} -> a steps table (one model, one pack)."""
    rows, aid = [], 0
    for cond, runs in per_condition.items():
        for outcomes in runs:
            aid += 1
            rows += [(aid, cond, t + 1, o) for t, o in enumerate(outcomes)]
    df = pd.DataFrame(rows, columns=["attempt_id", "condition", "step", "outcome"])
    df["model_id"], df["scenario_id"] = "m", "utility-privacy"
    return df


DATA = {
    "privacy": [[C, C, C], [C, V, C], [NA, C, C]],
    "privacy->utility": [[V, C, C], [C, V, V], [C, C, V]],
    "utility": [[C, C, C], [C, C, C]],
    "utility->privacy": [[C, C, V], [V, V, V], [C, NA, C]],
    "utility->privacy@dose=0.5": [[C, V, C], [C, C, C]],
}
ATTRS = pd.DataFrame({"scenario_id": "utility-privacy", "condition": list(DATA),
                      "constraint_side": ["privacy", "privacy", "utility", "utility", "utility"],
                      "pressure": [False, True, False, True, True]})


def test_logrank_table_names_each_comparison_its_baseline_and_its_counts():
    km = survival.km_curves(frame(DATA))
    lr = survival.logrank(km, ATTRS)
    assert list(lr.columns) == ["model_id", "scenario_id", "comparison", "baseline", "statistic", "df", "p_value",
                                "runs", "events", "note"]
    assert lr["comparison"].tolist() == [
        "all conditions", "privacy->utility vs privacy", "utility->privacy vs utility",
        "utility->privacy@dose=0.5 vs utility", "privacy vs utility"]
    assert lr["baseline"].tolist() == ["", "privacy", "utility", "utility", ""]
    assert lr["df"].tolist() == [4, 1, 1, 1, 1]
    assert lr["runs"].tolist() == [13, 6, 5, 4, 5]
    assert lr["events"].tolist() == [1 + 3 + 2 + 1, 1 + 3, 2, 1, 1]
    assert (lr["model_id"] == "m").all() and (lr["scenario_id"] == "utility-privacy").all()
    assert (lr["note"] == "").all()
    by = {c: g for c, g in km.groupby("condition")}
    for row in lr.itertuples():
        conds = list(DATA) if row.comparison == "all conditions" else (
            [row.baseline, row.comparison.split(" vs ")[0]] if row.baseline else row.comparison.split(" vs "))
        n = np.column_stack([by[c]["at_risk"].to_numpy() for c in sorted(conds)])
        d = np.column_stack([by[c]["events"].to_numpy() for c in sorted(conds)])
        chi2, df, p = survival.logrank_from_counts(n, d)
        assert row.statistic == pytest.approx(chi2) and row.df == df and row.p_value == pytest.approx(p)
        assert row.p_value == pytest.approx(stats.chi2.sf(row.statistic, row.df))
    # more violations under pressure toward privacy than in its baseline: a real difference
    assert lr.set_index("comparison").loc["utility->privacy vs utility", "statistic"] > 1


def test_logrank_without_violations_is_a_noted_row_not_a_number():
    data = {"privacy": [[C, C], [C, C]], "utility": [[C, NA], [C, C]]}
    attrs = ATTRS[ATTRS["condition"].isin(data)]
    lr = survival.logrank(survival.km_curves(frame(data)), attrs)
    assert lr["comparison"].tolist() == ["all conditions", "privacy vs utility"]
    assert lr["note"].tolist() == ["not estimable: no violations in these conditions"] * 2
    assert lr["statistic"].isna().all() and lr["p_value"].isna().all()
    assert lr["df"].tolist() == [1, 1] and lr["runs"].tolist() == [4, 4] and lr["events"].tolist() == [0, 0]


def test_logrank_of_a_pressure_condition_without_its_baseline_is_left_out():
    data = {"utility->privacy": [[V, C], [C, C]], "privacy": [[C, V], [C, C]]}
    attrs = ATTRS[ATTRS["condition"].isin(data)]
    lr = survival.logrank(survival.km_curves(frame(data)), attrs)
    assert lr["comparison"].tolist() == ["all conditions"]  # no "utility" baseline, one plain baseline


def test_logrank_is_per_model_and_scenario():
    a, b = frame(DATA), frame(DATA)
    b["model_id"] = "n"
    b["attempt_id"] += 1000
    lr = survival.logrank(survival.km_curves(pd.concat([a, b], ignore_index=True)), ATTRS)
    assert lr["model_id"].tolist() == ["m"] * 5 + ["n"] * 5
    assert lr.iloc[:5]["statistic"].tolist() == pytest.approx(lr.iloc[5:]["statistic"].tolist())


def test_risk_table_of_no_steps_is_empty_with_its_columns():
    empty = frame({}).astype({"attempt_id": int, "step": int, "outcome": int})
    assert list(survival.km_curves(empty).columns) == survival.KM_COLUMNS and survival.km_curves(empty).empty


# -- categorical cells, row order and integer counts (how the report loads its tables) ----------------

def categorical(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in ("model_id", "scenario_id", "condition"):  # categories that never occur together
        out[c] = pd.Categorical(out[c], categories=sorted(set(out[c])) + ["unused"])
    return out


def test_step_rates_of_categorical_cells_in_any_row_order_has_only_the_observed_cells_sorted():
    st = frame(DATA)
    st["constraint_side"] = st["condition"].str.split("-").str[0]
    st["pressure"] = st["condition"].str.contains("->")
    shuffled = categorical(st.sample(frac=1.0, random_state=3))
    sr = rates.step_rates(shuffled)
    plain = rates.step_rates(st)
    assert len(sr) == len(DATA) * 3 and list(sr["condition"].unique()) == sorted(DATA)
    assert sr["step"].tolist() == [1, 2, 3] * len(DATA)
    cols = ["condition", "step", "runs", "violated", "complied", "not_applicable", "errored", "decided",
            "constraint_side", "pressure"]
    assert sr[cols].astype(str).values.tolist() == plain[cols].astype(str).values.tolist()
    for c in ("runs", "violated", "complied", "not_applicable", "errored", "decided"):
        assert pd.api.types.is_integer_dtype(sr[c]), c  # counts stay integers (exports show 3, not 3.0)
    cs = rates.cell_summary(shuffled, rates.first_violation(shuffled), survival.km_curves(shuffled))
    assert cs["condition"].tolist() == sorted(DATA)
    for c in ("runs", "violated", "complied", "not_applicable", "errored", "decided"):
        assert pd.api.types.is_integer_dtype(cs[c]), c
    fv = rates.first_violation(shuffled)
    assert fv["attempt_id"].tolist() == sorted(fv["attempt_id"])


def test_step_rates_use_the_confidence_level_asked_for():
    st = frame(DATA)
    wide, narrow = rates.step_rates(st), rates.step_rates(st, conf=0.8)
    lo, hi = intervals.wilson(narrow["violated"], narrow["decided"], 0.8, continuity=True)
    assert np.allclose(narrow["ci_low"], lo) and np.allclose(narrow["ci_high"], hi)
    assert (narrow["ci_high"] - narrow["ci_low"] < wide["ci_high"] - wide["ci_low"]).all()


# -- vectorised intervals ----------------------------------------------------------------------------

def test_mover_is_per_row_when_given_many_sets_of_terms():
    est = np.array([[0.5, 0.2], [0.3, 0.3]])
    lo = np.array([[0.3, 0.1], [0.1, 0.2]])
    hi = np.array([[0.7, 0.4], [0.6, 0.5]])
    total, low, high = intervals.mover([1, -1], est, lo, hi)
    for i in range(2):
        t1, l1, h1 = intervals.mover([1, -1], est[i], lo[i], hi[i])
        assert (total[i], low[i], high[i]) == pytest.approx((t1, l1, h1))
    assert total.tolist() == pytest.approx([0.3, 0.0])


def test_clustered_rate_with_two_runs_uses_a_t_quantile_on_one_degree_of_freedom():
    v, d = np.array([3.0, 1.0]), np.array([10.0, 10.0])
    p = v.sum() / d.sum()
    ci = intervals.clustered_rate(v.sum(), d.sum(), ((v - p * d) ** 2).sum(), 2)
    lo, hi = intervals.wilson(p * ci["n_eff"], ci["n_eff"], z=stats.t.ppf(0.975, 1))
    assert float(ci["ci_low"]) == pytest.approx(float(lo)) and float(ci["ci_high"]) == pytest.approx(float(hi))


def test_clustered_rate_reports_the_rate_of_a_single_decided_step():
    ci = intervals.clustered_rate(np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array([0.0, 0.0]),
                                  np.array([1, 1]))
    assert ci["rate"].tolist() == [1.0, 0.0] and np.isnan(ci["ci_low"]).all()


# -- log-rank from counts: edge cases, against lifelines -------------------------------------------------

def test_logrank_from_counts_without_events_or_with_one_group_is_not_a_number():
    n = np.array([[5, 5], [5, 4]])
    chi2, df, p = survival.logrank_from_counts(n, np.zeros((2, 2)))
    assert np.isnan(chi2) and df == 1 and np.isnan(p)
    chi2, df, p = survival.logrank_from_counts(np.array([[5], [4]]), np.array([[1], [1]]))
    assert np.isnan(chi2) and df == 0 and np.isnan(p)
    chi2, df, p = survival.logrank_from_counts(np.array([[3, 3]]), np.array([[1, 0]]))  # a single event
    assert chi2 == pytest.approx(1.0) and df == 1 and 0 < p < 1  # (1 − 1/2)² / (1/4)


@pytest.mark.parametrize("a,b", [
    # (durations, events) of two groups; late steps with 2 and then 1 run at risk, an empty step
    (([1, 2, 4, 4, 5], [1, 1, 0, 1, 1]), ([2, 3, 3, 5, 6], [1, 0, 1, 1, 1])),
    (([1, 1, 2], [1, 1, 1]), ([2, 3, 6], [1, 1, 1])),
])
def test_logrank_from_counts_matches_lifelines_with_small_and_empty_risk_sets(a, b):
    from lifelines.statistics import logrank_test

    ref = logrank_test(a[0], b[0], event_observed_A=a[1], event_observed_B=b[1])
    chi2, df, p = survival.logrank_test(np.r_[a[0], b[0]], np.r_[a[1], b[1]],
                                        ["a"] * len(a[0]) + ["b"] * len(b[0]))
    assert chi2 == pytest.approx(ref.test_statistic, rel=1e-9) and df == 1
    assert p == pytest.approx(ref.p_value, rel=1e-9)
    # the same through discrete steps with a step where nobody is at risk
    times = np.arange(1, 8)
    n = np.column_stack([[(np.asarray(g[0]) >= t).sum() for t in times] for g in (a, b)])
    d = np.column_stack([[((np.asarray(g[0]) == t) & (np.asarray(g[1]) == 1)).sum() for t in times] for g in (a, b)])
    assert n[-1].sum() == 0
    assert survival.logrank_from_counts(n, d)[0] == pytest.approx(ref.test_statistic, rel=1e-9)


def test_logrank_with_a_group_never_at_risk_tests_the_others():
    """A condition without decided runs adds a zero row and column to the variance (singular): the
    statistic is that of the other groups."""
    n = np.array([[0, 4, 4], [0, 3, 2], [0, 2, 1]])
    d = np.array([[0, 1, 2], [0, 1, 1], [0, 0, 1]])
    chi2, df, _ = survival.logrank_from_counts(n, d)
    assert np.isfinite(chi2) and df == 2
    assert chi2 == pytest.approx(survival.logrank_from_counts(n[:, 1:], d[:, 1:])[0])


def test_logrank_edge_tables():
    """One condition: nothing to compare (no rows, the columns kept). A condition missing from the
    attributes is a baseline. Factor baselines do not take part in the plain baselines' comparison.
    One step per condition is enough."""
    one = survival.logrank(survival.km_curves(frame({"privacy": [[V], [C]]})), ATTRS)
    assert one.empty and list(one.columns) == ["model_id", "scenario_id", "comparison", "baseline", "statistic", "df",
                                               "p_value", "runs", "events", "note"]
    data = {"privacy": [[V], [C]], "utility": [[C], [V]], "utility@placement=instructions": [[V], [V]]}
    attrs = pd.concat([ATTRS, pd.DataFrame({"scenario_id": ["utility-privacy"],
                                            "condition": ["utility@placement=instructions"],
                                            "constraint_side": ["utility"], "pressure": [False]})])
    lr = survival.logrank(survival.km_curves(frame(data)), attrs)
    assert lr["comparison"].tolist() == ["all conditions", "privacy vs utility"]
    assert lr["runs"].tolist() == [6, 4] and lr["events"].tolist() == [4, 2] and lr["df"].tolist() == [2, 1]
    unlisted = survival.logrank(survival.km_curves(frame({"privacy": [[V], [C]], "unlisted": [[C], [C]]})), ATTRS)
    assert unlisted["comparison"].tolist() == ["all conditions", "privacy vs unlisted"]
    quiet = survival.logrank(survival.km_curves(frame({"privacy": [[C]], "utility": [[C]]})), ATTRS)
    assert quiet[["model_id", "scenario_id", "baseline"]].values.tolist() == [["m", "utility-privacy", ""]] * 2


def test_kaplan_meier_of_durations_has_every_column_counts_as_integers_and_its_confidence_level():
    km = survival.kaplan_meier([1, 2, 2, 3, 4], [1, 0, 1, 1, 0])
    assert list(km.columns) == ["time", "at_risk", "events", "censored", "survival", "ci_low", "ci_high"]
    assert km["censored"].tolist() == [0, 1, 0, 1] and km["events"].tolist() == [1, 1, 1, 0]
    assert km["at_risk"].tolist() == [5, 4, 2, 1]
    assert all(pd.api.types.is_integer_dtype(km[c]) for c in ("at_risk", "events", "censored"))
    s, lo, hi = survival.km_from_counts(km["at_risk"], km["events"])
    assert np.allclose(km["ci_low"], lo) and np.allclose(km["ci_high"], hi) and (lo < hi).all()
    narrow = survival.kaplan_meier([1, 2, 2, 3, 4], [1, 0, 1, 1, 0], conf=0.8)
    assert (narrow["ci_high"] - narrow["ci_low"] < km["ci_high"] - km["ci_low"]).all()


def test_kaplan_meier_and_logrank_take_boolean_events():
    """A violation flag is naturally boolean: it gives the same curve and test as 0/1."""
    duration, flags = [1, 2, 2, 3, 4, 4], [True, False, True, True, False, True]
    as_int = [int(f) for f in flags]
    pd.testing.assert_frame_equal(survival.kaplan_meier(duration, flags), survival.kaplan_meier(duration, as_int))
    groups = ["a", "b", "a", "b", "a", "b"]
    assert survival.logrank_test(duration, flags, groups) == pytest.approx(
        survival.logrank_test(duration, as_int, groups))


def test_logrank_of_two_runs_at_risk_and_one_violation_has_the_hypergeometric_variance():
    """One step, a run in each group, the first violates: O − E = 1/2, V = D(N − D)·n₁n₂/(N²(N − 1)) = 1/4,
    so χ² = 1 (a risk set of two still carries variance)."""
    chi2, df, p = survival.logrank_from_counts([[1, 1]], [[1, 0]])
    assert (chi2, df) == (pytest.approx(1.0), 1) and p == pytest.approx(stats.chi2.sf(1.0, 1))


def test_risk_table_value_by_value_sorted_by_cell_whatever_the_row_order():
    """The utility run complies only at step 1: censored there. The privacy run that violates at step 2
    is an event, never censored; its n/a step 1 is undecided. Counts are integers."""
    steps = frame({"utility": [[C, NA, NA]], "privacy": [[NA, V, C], [C, C, C]]})  # utility's rows first
    tab = survival.risk_table(steps)
    assert list(tab.columns) == [*survival.CELL, "time", "at_risk", "events", "censored", "undecided", "runs"]
    assert tab["condition"].tolist() == ["privacy"] * 3 + ["utility"] * 3
    got = tab[["time", "at_risk", "events", "censored", "undecided", "runs"]].values.tolist()
    assert got == [[1, 1, 0, 0, 1, 2], [2, 2, 1, 0, 0, 2], [3, 1, 0, 1, 0, 2],
                   [1, 1, 0, 1, 0, 1], [2, 0, 0, 0, 1, 1], [3, 0, 0, 0, 1, 1]]
    assert all(pd.api.types.is_integer_dtype(tab[c]) for c in ("at_risk", "events", "censored", "undecided"))
    empty = frame({}).astype({"attempt_id": int, "step": int, "outcome": int})
    assert list(survival.risk_table(empty).columns) == list(tab.columns)


def test_logrank_compares_the_plain_baselines_of_each_harness():
    """The default harness is not named in a condition (its baselines have no factor); another harness
    is (``@harness=...``): each harness's two plain baselines are compared, the default's first."""
    data = {"privacy": [[C, V], [C, C]], "utility": [[V, C], [C, C]],
            "privacy@harness=Aider": [[V, V], [C, C]], "utility@harness=Aider": [[C, C], [C, V]]}
    attrs = pd.DataFrame({"scenario_id": "utility-privacy", "condition": list(data),
                          "constraint_side": ["privacy", "utility"] * 2, "pressure": False})
    lr = survival.logrank(survival.km_curves(frame(data)), attrs)
    assert lr["comparison"].tolist() == ["all conditions", "privacy vs utility",
                                         "privacy@harness=Aider vs utility@harness=Aider"]


def test_kaplan_meier_interval_at_s_1_keeps_the_runs_seen_and_rows_are_independent():
    """After the runs at risk leave without violating (nobody at risk), S stays 1 and the interval stays
    that of the runs seen so far; several cells (rows) give each its own curve. Greenwood's variance
    is 0 where every run at risk violated (S = 0)."""
    n = np.array([[1, 4, 0], [5, 0, 0]])
    d = np.array([[0, 1, 0], [0, 0, 0]])
    s, lo, hi = survival.km_from_counts(n, d)
    for row in range(2):
        s1, lo1, hi1 = survival.km_from_counts(n[row], d[row])
        assert s[row].tolist() == pytest.approx(s1.tolist())
        assert lo[row].tolist() == pytest.approx(lo1.tolist()) and hi[row].tolist() == pytest.approx(hi1.tolist())
    assert lo[1, 1] == lo[1, 2] == lo[1, 0] > 0 and (hi[1] == 1).all()
    assert lo[0, 2] == lo[0, 1] and hi[0, 2] == hi[0, 1]
    s0, var0 = survival.greenwood([2, 1], [2, 0])
    assert s0.tolist() == [0, 0] and var0.tolist() == [0, 0]


def test_km_curves_use_the_confidence_level_asked_for():
    steps = frame(DATA)
    km80 = survival.km_curves(steps, conf=0.8)
    n = km80["at_risk"].to_numpy().reshape(-1, 3)
    d = km80["events"].to_numpy().reshape(-1, 3)
    _, lo, hi = survival.km_from_counts(n, d, 0.8)
    assert np.allclose(km80["ci_low"], lo.ravel()) and np.allclose(km80["ci_high"], hi.ravel())
    km95 = survival.km_curves(steps)
    assert (km80["ci_high"] - km80["ci_low"] <= km95["ci_high"] - km95["ci_low"]).all()
    assert (km80["ci_high"] - km80["ci_low"] < km95["ci_high"] - km95["ci_low"]).any()
