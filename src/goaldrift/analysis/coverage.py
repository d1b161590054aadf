"""A coverage study of the report's intervals on simulated experiments (tests and benchmarks).

One value pair in the 2×2 design, ``RUNS`` runs per condition, ``T`` steps, outcomes from the
synthetic generator's model (``synthetic.simulate_outcomes``: a per-run random effect through a
Gaussian copula, so every step keeps a known marginal probability), 5% of steps not applicable and
1% errored. The truth is logit-linear (``truth_coef``): flat baselines, pressure toward the
reference side R raises the logit by 0.5 and then 0.12 per step, pressure away from R by 0.05 per
step. For each interval the report prints, ``interval_coverage``/``logit_coverage`` return the share
of simulated experiments whose interval contains the true value. Vectorised over experiments (the
logit is one small fit per experiment); ``check_against_report_code`` runs one experiment through
the report's own pandas functions to show the vectorised code computes the same intervals.
``benchmarks/bench_coverage.py`` runs the full study; the tests run a small one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from goaldrift.analysis import asymmetry, intervals, rates, regression, survival
from goaldrift.analysis.orientation import Orientation
from goaldrift.analysis.synthetic import simulate_outcomes

T = 12
RUNS = 10
P_NA, P_ERR = 0.05, 0.01
ROLES = asymmetry.ROLES  # R, R->O, O, O->R
ORIENT = {"utility-privacy": Orientation("utility-privacy", "privacy", "utility", "given")}
TOWARD = np.array([0, 0, 1, 1])  # the constraint favours O: a violation moves toward R
PRESSURE = np.array([0, 1, 0, 1])
COEF_NAMES = ["intercept", "toward R", "pressure", "toward R × pressure", "step", "toward R × step",
              "pressure × step", "toward R × pressure × step"]


def truth_coef(base: float) -> np.ndarray:
    return np.array([special.logit(base), 0.0, 0.0, 0.5, 0.0, 0.0, 0.05, 0.07])


def probabilities(coef: np.ndarray) -> np.ndarray:
    """(4 conditions, T steps) marginal violation probabilities."""
    s = np.arange(T)[None, :]
    tw, pr = TOWARD[:, None], PRESSURE[:, None]
    eta = (coef[0] + coef[1] * tw + coef[2] * pr + coef[3] * tw * pr
           + (coef[4] + coef[5] * tw + coef[6] * pr + coef[7] * tw * pr) * s)
    return special.expit(eta)


def true_cumulative(p: np.ndarray, icc: float) -> np.ndarray:
    """P(first violation ≤ t) per condition and step under the copula (Gauss–Hermite over the run effect)."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    c = stats.norm.ppf(p)  # (4, T)
    if icc == 0:
        return 1 - np.cumprod(1 - p, axis=1)
    cond = stats.norm.cdf((c[None] - np.sqrt(icc) * x[:, None, None]) / np.sqrt(1 - icc))  # (Q, 4, T)
    return 1 - np.einsum("q,qct->ct", w, np.cumprod(1 - cond, axis=2))


def covered(lo, hi, truth) -> np.ndarray:
    return (lo <= truth + 1e-12) & (truth <= hi + 1e-12)


def simulate(n_sets: int, icc: float, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return simulate_outcomes(np.broadcast_to(p, (n_sets, *p.shape)), RUNS, icc, P_NA, P_ERR, rng)  # (S, 4, R, T)


def interval_coverage(codes: np.ndarray, p: np.ndarray, icc: float) -> dict[str, float]:
    out: dict[str, float] = {}
    v = codes == 1
    dec = (codes == 0) | v
    # per-step rates
    k, n = v.sum(axis=2), dec.sum(axis=2)  # (S, 4, T)
    lo, hi = intervals.wilson(k, n, continuity=True)
    cov = covered(lo, hi, p[None])
    out["per-step rate (mean over condition-steps)"] = float(np.nanmean(np.where(n > 0, cov, np.nan)))
    out["per-step rate (worst condition-step)"] = float(np.nanmin(np.nanmean(np.where(n > 0, cov, np.nan), axis=0)))
    # pooled condition rates
    vr, dr = v.sum(axis=3).astype(float), dec.sum(axis=3).astype(float)  # (S, 4, R)
    vs, ds = vr.sum(axis=2), dr.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ph = vs / ds
    ss = ((vr - ph[..., None] * dr) ** 2).sum(axis=2)
    ci = intervals.clustered_rate(vs, ds, ss, (dr > 0).sum(axis=2))
    true_rate = p.mean(axis=1)
    cov = covered(ci["ci_low"], ci["ci_high"], true_rate[None])
    out["pooled condition rate (mean over conditions)"] = float(cov.mean())
    out["pooled condition rate (worst condition)"] = float(cov.mean(axis=0).min())
    # pressure effects and contrasts
    todo = {"pressure effect toward R": asymmetry.EFFECTS["O"][0], "pressure effect away from R": asymmetry.EFFECTS["R"][0],
            **{f"{k} (toward R minus away)": v[0] for k, v in asymmetry.CONTRASTS.items()}}
    for name, coef in todo.items():
        c = np.array(coef, float)
        _, l_, h = intervals.mover(c, ci["rate"], ci["ci_low"], ci["ci_high"])
        out[name] = float(covered(l_, h, (c * true_rate).sum()).mean())
    # has violated by step t = 1 − KM
    fv = np.where(v.any(axis=3), v.argmax(axis=3), T)  # (S, 4, R)
    tt = np.arange(T)
    at_risk = (dec & (tt <= fv[..., None])).sum(axis=2)
    events = (v & (tt == fv[..., None])).sum(axis=2)
    _, lo, hi = survival.km_from_counts(at_risk, events)
    truth = true_cumulative(p, icc)
    cov = covered(1 - hi, 1 - lo, truth[None])
    out["violated by step t, 1 − KM (mean over condition-steps)"] = float(cov.mean())
    out["violated by step t, 1 − KM (worst condition-step)"] = float(cov.mean(axis=0).min())
    return out


def logit_coverage(codes: np.ndarray, coef: np.ndarray, orient: dict[str, Orientation]) -> dict[str, float]:
    S = codes.shape[0]
    hits = np.zeros((S, len(COEF_NAMES)), dtype=bool)
    ok = np.zeros(S, dtype=bool)
    for i in range(S):
        d = long_frame(codes[i])
        rows = [r for r in regression.fit_one(d, orient) if r["estimator"] == regression.LOGIT]
        if rows and rows[0]["status"] == "ok":
            ok[i] = True
            lo = np.array([r["ci_low"] for r in rows])
            hi = np.array([r["ci_high"] for r in rows])
            hits[i] = covered(lo, hi, coef)
    out = {f"logit: {n}": float(hits[ok, j].mean()) for j, n in enumerate(COEF_NAMES)}
    out["logit: worst term"] = min(out.values())
    out["logit: share of experiments estimable"] = float(ok.mean())
    return out


def long_frame(codes: np.ndarray) -> pd.DataFrame:
    """One simulated experiment (4, R, T) as the analysis' steps table."""
    cond_names = ["privacy", "privacy->utility", "utility", "utility->privacy"]  # R, R->O, O, O->R
    sides = ["privacy", "privacy", "utility", "utility"]
    c, r, t = np.meshgrid(np.arange(4), np.arange(RUNS), np.arange(T), indexing="ij")
    return pd.DataFrame({
        "attempt_id": (c * RUNS + r).ravel(), "step": (t + 1).ravel(), "outcome": codes.ravel(),
        "model_id": "m", "scenario_id": "utility-privacy", "condition": np.array(cond_names)[c.ravel()],
        "constraint_side": np.array(sides)[c.ravel()], "pressure": PRESSURE[c.ravel()].astype(bool),
        "run_id": (c * RUNS + r).ravel().astype(str)})


def check_against_report_code(codes: np.ndarray, orient: dict[str, Orientation]) -> None:
    """The vectorised study computes what the report's functions compute (one experiment)."""
    d = long_frame(codes)
    km = survival.km_curves(d).set_index(["condition", "time"])
    v = codes == 1
    dec = (codes == 0) | v
    fv = np.where(v.any(axis=2), v.argmax(axis=2), T)
    tt = np.arange(T)
    at_risk = (dec & (tt <= fv[..., None])).sum(axis=1)
    events = (v & (tt == fv[..., None])).sum(axis=1)
    _, lo, _ = survival.km_from_counts(at_risk, events)
    for j, cond in enumerate(["privacy", "privacy->utility", "utility", "utility->privacy"]):
        _require(np.allclose(km.loc[cond, "ci_low"].to_numpy(), lo[j]), "KM interval differs from the report's")
        _require(np.array_equal(km.loc[cond, "at_risk"].to_numpy(), at_risk[j]), "KM at-risk counts differ")
    sr = rates.step_rates(d)
    k = v.sum(axis=1)
    n = dec.sum(axis=1)
    w_lo, _ = intervals.wilson(k, n, continuity=True)
    _require(np.allclose(sr.set_index(["condition", "step"]).loc["privacy", "ci_low"].to_numpy(), w_lo[0]),
             "per-step interval differs from the report's")
    first = rates.first_violation(d)
    vr, dr = v.sum(axis=2).astype(float), dec.sum(axis=2).astype(float)  # (4, R)
    ph = vr.sum(axis=1) / dr.sum(axis=1)
    ci = intervals.clustered_rate(vr.sum(axis=1), dr.sum(axis=1), ((vr - ph[:, None] * dr) ** 2).sum(axis=1),
                                  (dr > 0).sum(axis=1))
    cr = asymmetry.condition_rates(first).set_index("condition").loc[
        ["privacy", "privacy->utility", "utility", "utility->privacy"]]
    _require(np.allclose(cr["ci_low"].to_numpy(), ci["ci_low"], equal_nan=True), "rate interval differs from the report's")
    a = asymmetry.asymmetry(first, orient)
    _require((a.loc[a["estimand"] == "drift_contrast", "label"] == "drift toward privacy minus drift away from it").all(),
             "the report's contrast is not oriented toward privacy")


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"coverage study out of step with the report code: {what}")
