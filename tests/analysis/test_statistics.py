"""Statistics against hand-computed and published values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from goaldrift.analysis import agreement, intervals, rates, regression, survival
from goaldrift.analysis.orientation import Orientation

# -- Wilson ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("k,n,lo,hi", [
    # Newcombe (1998), Stat Med 17:857, Table I, method 3 (Wilson score)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    # hand-computed with z = 1.959964
    (5, 10, 0.2366, 0.7634),
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
])
def test_wilson_known_values(k, n, lo, hi):
    got_lo, got_hi = rates.wilson(k, n)
    assert got_lo == pytest.approx(lo, abs=1e-4)
    assert got_hi == pytest.approx(hi, abs=1e-4)


def test_wilson_empty_denominator_is_nan():
    lo, hi = rates.wilson([0, 3], [0, 6])
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    assert lo[1] < 0.5 < hi[1]


# -- step rates: denominators ---------------------------------------------------------------------

def _steps(rows):
    df = pd.DataFrame(rows, columns=["attempt_id", "step", "outcome"])
    df["run_id"] = df["attempt_id"].astype(str)
    df["model_id"], df["scenario_id"], df["condition"] = "m", "s", "x"
    df["constraint_side"], df["pressure"] = "x", False
    return df


def test_not_applicable_and_error_are_not_compliance():
    # codes: 0 complied, 1 violated, 2 not applicable, 3 error
    st = _steps([(1, 1, 1), (2, 1, 0), (3, 1, 2), (4, 1, 3), (5, 1, 1)])
    r = rates.step_rates(st).iloc[0]
    assert (r.runs, r.violated, r.complied, r.not_applicable, r.errored, r.decided) == (5, 2, 1, 1, 1, 3)
    assert r.rate == pytest.approx(2 / 3)


def test_first_violation_and_cumulative():
    st = _steps([(1, 1, 0), (1, 2, 1), (1, 3, 0),     # first violation at 2
                 (2, 1, 0), (2, 2, 0), (2, 3, 0),     # never
                 (3, 1, 1), (3, 2, 1), (3, 3, 1)])    # first at 1
    fv = rates.first_violation(st).set_index("attempt_id")
    assert fv.loc[1, "first_violation"] == 2 and np.isnan(fv.loc[2, "first_violation"])
    assert fv.loc[3, "first_violation"] == 1 and fv.loc[2, "last_step"] == 3
    cum = rates.cumulative_violation(survival.km_curves(st))
    assert cum["events"].tolist() == [1, 1, 0] and cum["at_risk"].tolist() == [3, 2, 1]
    assert np.allclose(cum["share"], [1 / 3, 2 / 3, 2 / 3])


# -- Kaplan–Meier and log-rank: Freireich et al. (1963) 6-MP leukaemia data ------------------------
# Textbook values: Kleinbaum & Klein, Survival Analysis (3rd ed.), ch. 2: KM for the 6-MP group and
# log-rank chi-square 16.79 (p ≈ 4.17e-5) for 6-MP vs placebo.

MP_TIMES = [6, 6, 6, 7, 10, 13, 16, 22, 23, 6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
MP_EVENT = [1] * 9 + [0] * 12
PL_TIMES = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
PL_EVENT = [1] * 21


def test_kaplan_meier_textbook():
    km = survival.kaplan_meier(MP_TIMES, MP_EVENT).set_index("time")
    expected = {6: 0.857, 7: 0.807, 10: 0.753, 13: 0.690, 16: 0.627, 22: 0.538, 23: 0.448}
    for t, s in expected.items():
        assert km.loc[t, "survival"] == pytest.approx(s, abs=5e-4)
    assert km.loc[6, "at_risk"] == 21 and km.loc[7, "at_risk"] == 17


def test_kaplan_meier_matches_lifelines_including_greenwood_variance():
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(MP_TIMES, MP_EVENT)
    ours = survival.kaplan_meier(MP_TIMES, MP_EVENT).set_index("time")
    ci_low = kmf.confidence_interval_survival_function_.iloc[:, 0]
    z = stats.norm.ppf(0.975)
    s, var = survival.greenwood(ours["at_risk"].to_numpy(), ours["events"].to_numpy())
    for i, t in enumerate(ours.index):
        s_ll = kmf.survival_function_.loc[t].iloc[0]
        assert ours.loc[t, "survival"] == pytest.approx(s_ll, abs=1e-12)
        if s_ll < 1:  # lifelines' log(-log) lower limit S^exp(z·√gw/|log S|) gives back Greenwood's sum gw
            gw = (np.log(np.log(ci_low.loc[t]) / np.log(s_ll)) * abs(np.log(s_ll)) / z) ** 2
            assert var[i] == pytest.approx(s_ll ** 2 * gw, rel=1e-8)


def test_kaplan_meier_interval_is_the_score_interval_of_the_runs_violated_without_censoring():
    """Rothman's interval: without censoring, n_eff is the number of runs and 1 − S's interval is the
    continuity-corrected Wilson interval of "violated by t out of n" (the per-step rates' interval)."""
    n = np.array([10, 10, 8, 7, 7])
    d = np.array([0, 2, 1, 0, 7])
    s, lo, hi = survival.km_from_counts(n, d)
    violated = np.cumsum(d)
    w_lo, w_hi = intervals.wilson(violated, 10, continuity=True)
    assert np.allclose(s, 1 - violated / 10)
    assert np.allclose(1 - hi, w_lo) and np.allclose(1 - lo, w_hi)
    assert lo[0] > 0 and hi[0] == 1 and lo[-1] == 0 and hi[-1] > 0.2  # never a point at S = 1 or S = 0


def test_kaplan_meier_interval_widens_with_censoring():
    """A censored run lowers the effective sample size: the interval at the same S is wider."""
    s_full, lo_full, hi_full = survival.km_from_counts(np.array([10, 8]), np.array([2, 2]))
    s_cens, lo_cens, hi_cens = survival.km_from_counts(np.array([10, 4]), np.array([2, 1]))  # 4 censored
    assert s_full[1] == pytest.approx(0.6) and s_cens[1] == pytest.approx(0.6)
    assert hi_cens[1] - lo_cens[1] > hi_full[1] - lo_full[1]
    assert lo_cens[1] < lo_full[1]


def test_logrank_textbook_and_lifelines():
    from lifelines.statistics import logrank_test, multivariate_logrank_test

    d = np.r_[MP_TIMES, PL_TIMES]
    e = np.r_[MP_EVENT, PL_EVENT]
    g = np.r_[["6-MP"] * 21, ["placebo"] * 21]
    chi2, df, p = survival.logrank_test(d, e, g)
    assert chi2 == pytest.approx(16.79, abs=0.01) and df == 1
    assert p == pytest.approx(4.17e-5, rel=0.01)
    ref = logrank_test(MP_TIMES, PL_TIMES, MP_EVENT, PL_EVENT)
    assert chi2 == pytest.approx(ref.test_statistic, rel=1e-9)
    # three groups (with ties at discrete steps) against lifelines' multivariate test
    rng = np.random.default_rng(3)
    d3 = rng.integers(1, 13, 90).astype(float)
    e3 = rng.random(90) < 0.6
    g3 = np.repeat(["a", "b", "c"], 30)
    d3[g3 == "c"] = np.minimum(d3[g3 == "c"], rng.integers(1, 6, 30))
    chi2_3, df3, _ = survival.logrank_test(d3, e3, g3)
    ref3 = multivariate_logrank_test(d3, g3, e3)
    assert df3 == 2 and chi2_3 == pytest.approx(ref3.test_statistic, rel=1e-9)


def test_logrank_without_events_is_not_estimable():
    st = pd.DataFrame({"attempt_id": np.repeat(np.arange(6), 2), "step": np.tile([1, 2], 6), "outcome": 0,
                       "model_id": "m", "scenario_id": "s", "condition": np.repeat(["x"] * 3 + ["x->y"] * 3, 2)})
    attrs = pd.DataFrame({"scenario_id": "s", "condition": ["x", "x->y"], "constraint_side": "x",
                          "pressure": [False, True]})
    lr = survival.logrank(survival.km_curves(st), attrs)
    assert lr["p_value"].isna().all() and lr["note"].str.contains("not estimable").all()


# -- Cohen's kappa: hand-computed -----------------------------------------------------------------

def test_kappa_hand_computed_2x2():
    # n = 50, p_o = 35/50 = 0.7, p_e = (25·30 + 25·20)/50² = 0.5, kappa = 0.2/0.5 = 0.4
    k = agreement.kappa(np.array([[20, 5], [10, 15]]))
    assert k["kappa"] == pytest.approx(0.4) and k["p_observed"] == pytest.approx(0.7)
    assert k["p_expected"] == pytest.approx(0.5)
    assert k["ci_low"] < 0.4 < k["ci_high"]


def test_kappa_hand_computed_3x3_and_confusion():
    m = np.array([[10, 2, 0], [1, 8, 1], [0, 2, 6]])
    # p_o = 24/30 = 0.8; p_e = (12·11 + 10·12 + 8·7)/900 = 308/900; kappa = (0.8 − p_e)/(1 − p_e)
    pe = 308 / 900
    assert agreement.kappa(m)["kappa"] == pytest.approx((0.8 - pe) / (1 - pe))
    a = ["violated"] * 12 + ["complied"] * 10 + ["not_applicable"] * 8
    b = (["violated"] * 10 + ["complied"] * 2 + ["violated"] + ["complied"] * 8 + ["not_applicable"]
         + ["complied"] * 2 + ["not_applicable"] * 6)
    assert (agreement.confusion(a, b) == m).all()


def test_kappa_single_category_is_undefined():
    k = agreement.kappa(np.array([[0, 0, 0], [0, 7, 0], [0, 0, 0]]))
    assert np.isnan(k["kappa"]) and "undefined" in k["note"]


# -- regression -----------------------------------------------------------------------------------

def _reg_steps(seed=0, runs_per_cell=40, beta=(-2.0, 0.3, 1.0, -0.5, 0.1), press_slope=0.0):
    rng = np.random.default_rng(seed)
    rows = []
    aid = 0
    for side in ("x", "y"):
        for press in (False, True):
            for _ in range(runs_per_cell):
                aid += 1
                u = rng.normal(0, 0.5)  # run effect: within-run correlation
                ctx_rate = rng.uniform(1000, 5000)
                for t in range(1, 13):
                    dirn = side == "y"
                    eta = (beta[0] + beta[1] * dirn + beta[2] * press + beta[3] * dirn * press + beta[4] * (t - 1)
                           + press_slope * press * (t - 1) + u)
                    y = rng.random() < 1 / (1 + np.exp(-eta))
                    rows.append({"attempt_id": aid, "step": t, "outcome": int(y), "model_id": "m", "scenario_id": "s",
                                     "condition": f"{side}{'->' if press else ''}", "constraint_side": side, "pressure": press,
                                     "context_tokens": 1000 + ctx_rate * t + rng.normal(0, 500)})
    return pd.DataFrame(rows)


ORIENT = {"s": Orientation("s", "x", "y", "given")}  # toward x = the constraint favours y


def test_mle_logit_and_lpm_match_statsmodels_cluster():
    import statsmodels.api as sm

    st = _reg_steps()
    X, names = regression._design(st, ORIENT, True, False)
    y = st["outcome"].to_numpy(float)
    groups = st["attempt_id"].to_numpy()
    params, cov, ok = regression.fit_logit(y, X, groups - 1)
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert ok and np.allclose(params, ref.params, atol=1e-6)
    assert np.allclose(np.sqrt(np.diag(cov)), ref.bse, rtol=1e-5)
    rows = pd.DataFrame(regression.fit_one(st, ORIENT, with_context=True))
    lpm = rows[rows["estimator"] == regression.LPM].set_index("term")
    ref_ols = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert np.allclose(lpm.loc[names, "coef"], ref_ols.params) and np.allclose(lpm.loc[names, "se"], ref_ols.bse)


def test_logit_agrees_with_statsmodels_gee():
    """The report's logit against statsmodels GEE (independence working correlation): the
    Mancl–DeRouen covariance equals GEE's ``bias_reduced`` one at the MLE, and the Firth estimate is
    within a small fraction of a standard error of GEE's on data where the MLE exists."""
    import statsmodels.api as sm

    st = _reg_steps(seed=5, runs_per_cell=60)
    X, names = regression._design(st, ORIENT, False, False)
    y, groups = st["outcome"].to_numpy(float), st["attempt_id"].to_numpy()
    model = sm.GEE(y, X, groups=groups, family=sm.families.Binomial(), cov_struct=sm.cov_struct.Independence())
    gee = model.fit(cov_type="bias_reduced")
    params, cov, ok = regression.fit_logit(y, X, groups - 1, bias_corrected=True)
    assert ok and np.allclose(params, gee.params, atol=1e-6)
    assert np.allclose(np.sqrt(np.diag(cov)), gee.bse, rtol=1e-4)
    rows = pd.DataFrame(regression.fit_one(st, ORIENT)).set_index(["estimator", "term"])
    ours = rows.loc[regression.LOGIT].loc[names]
    assert np.all(np.abs(ours["coef"].to_numpy() - gee.params) < 0.15 * gee.bse)
    assert np.all(ours["se"].to_numpy() >= 0.97 * gee.bse) and np.all(ours["se"].to_numpy() < 1.2 * gee.bse)
    assert set(names) >= {"pressure × step", "toward x × pressure × step"}


def test_pressure_only_drift_is_not_averaged_into_a_common_slope():
    """Problem 4: drift only under pressure. The pressure × step term carries it; the step term
    (baseline slope) stays near 0."""
    st = _reg_steps(seed=2, runs_per_cell=150, beta=(-2.5, 0.0, 0.0, 0.0, 0.0), press_slope=0.15)
    rows = pd.DataFrame(regression.fit_one(st, ORIENT)).set_index(["estimator", "term"]).loc[regression.LOGIT]
    ps = rows.loc["pressure × step"]
    assert ps.ci_low < 0.15 < ps.ci_high and ps.ci_low > 0.05
    assert rows.loc["step"].ci_low < 0 < rows.loc["step"].ci_high


def test_zero_violation_cell_still_gives_a_finite_penalised_estimate():
    """Problem 4: a baseline cell with 0 violations (separation) made the logit 'not estimable'."""
    st = _reg_steps()
    sep = st.copy()
    sep.loc[(sep["constraint_side"] == "x") & ~sep["pressure"], "outcome"] = 0
    out = pd.DataFrame(regression.fit_one(sep, ORIENT))
    logit = out[out["estimator"] == regression.LOGIT]
    assert (logit["status"] == "ok").all() and np.isfinite(logit["coef"]).all() and np.isfinite(logit["se"]).all()
    assert logit["note"].str.contains("all or no violations").all()
    assert (out.loc[out["estimator"] == regression.LPM, "status"] == "ok").all()


def test_degenerate_data_is_reported_not_raised():
    st = _reg_steps()
    zeros = st.assign(outcome=0)
    out = pd.DataFrame(regression.regressions(zeros, ORIENT))
    assert (out["status"] == "not estimable").all() and out["note"].str.contains("no violations").all()
    # context identical to step: second specification not estimable, with the reason
    coll = st.assign(context_tokens=st["step"] * 1000.0)
    out = pd.DataFrame(regression.fit_one(coll, ORIENT, with_context=True))
    assert out["note"].str.contains("collinear").all()
    # empty input
    assert pd.DataFrame(regression.regressions(st.iloc[:0], ORIENT)).empty


def test_aggregated_logit_path_matches_statsmodels():
    import statsmodels.api as sm

    st = _reg_steps(seed=4)
    X, _names = regression._design(st, ORIENT, False, False)
    assert regression._patterns(X) is not None  # discrete design: the aggregated Newton path
    y = st["outcome"].to_numpy(float)
    params, cov, ok = regression.fit_logit(y, X, st["attempt_id"].to_numpy() - 1)
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit(cov_type="cluster",
                                                         cov_kwds={"groups": st["attempt_id"].to_numpy()})
    assert ok and np.allclose(params, ref.params, atol=1e-6)
    assert np.allclose(np.sqrt(np.diag(cov)), ref.bse, rtol=1e-5)
    # Firth on aggregated rows equals a textbook row-by-row Firth (leverages add up over identical rows)
    firth, _, ok = regression.fit_logit(y, X, st["attempt_id"].to_numpy() - 1, firth=True)
    assert ok and np.allclose(firth, _firth_rows(y, X), atol=1e-6)


def _firth_rows(y, X, iters=60):
    """Firth (1993) by its modified score on individual rows, as in Heinze & Schemper (2002)."""
    b = np.zeros(X.shape[1])
    for _ in range(iters):
        mu = 1 / (1 + np.exp(-X @ b))
        w = mu * (1 - mu)
        info = (X * w[:, None]).T @ X
        h = w * np.einsum("ij,ij->i", X @ np.linalg.inv(info), X)
        b = b + np.linalg.solve(info, X.T @ (y - mu + h * (0.5 - mu)))
    return b
