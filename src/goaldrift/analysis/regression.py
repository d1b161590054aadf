"""Regression of step-level violation on design factors, with standard errors clustered by run.

Per model × harness × scenario (decided steps only: violated = 1, complied = 0), with ``toward`` = 1 when the
constraint favours the other side O, so that a violation is a move toward the reference side R
(``analysis.orientation``), ``pressure`` = 1 under pressure and s = step − first step::

    logit P(violated) = b0 + b1·toward + b2·pressure + b3·toward×pressure
                        + (b4 + b5·toward + b6·pressure + b7·toward×pressure)·s

b6 (``pressure × step``) is the extra drift per step that pressure causes; b7 (``toward R ×
pressure × step``) how much faster that drift is toward R than away from it. A common step slope
would average drift that only happens under pressure into the baselines.

The logit is fitted with **Firth's penalised likelihood** (Jeffreys prior; Firth 1993, Heinze &
Schemper 2002): a direction × pressure cell with 0% violations — common at n = 10 with low
baselines — sends the ordinary maximum-likelihood estimate to ±∞, while the penalised estimate stays
finite and is nearly identical to the MLE when the MLE exists. Standard errors are run-clustered
with the Mancl–DeRouen bias correction (the plain sandwich is too small with few runs), never below
the model-based standard error, and intervals and p-values use a t distribution on G − K degrees of
freedom (G runs, K coefficients), as recommended for few clusters and binary outcomes (Li & Redden
2015). The coverage study (benchmarks/bench_coverage.py) measures what this achieves. Point estimates are population-averaged (a GEE with independence working correlation);
the tests compare them with ``statsmodels`` GEE. The fit is a compact Newton iteration on the
distinct rows of the design (``fit_logit``), fast at 10⁶ rows.

A second specification adds standardised ``context_tokens`` to separate accumulated context from
step index, fitted only where context was recorded and is not collinear with step (|r| < 0.99).
The harness is the condition's ``harness`` factor (empty when the experiment ran one harness): fits
never pool harnesses, so an experiment comparing them gets one set of coefficients per harness.
Where the steps' task completion was checked (``goaldrift.completion``), the step specification is
fitted again on the steps whose acceptance tests passed (``step, completed steps only``): if its
pressure terms match the full fit, drift is not an artefact of agents that stopped doing the work.
Where some checked steps completed and others failed, a ``step + completion`` specification adds a
``not completed`` term on the checked steps: the difference in log-odds of violating between steps
whose feature does not work and steps whose feature does (an agent that violates while breaking the
work, or one that holds the constraint by not doing it, shows here). Completion is itself an outcome
of the step, so the term describes an association, not an effect.
Where conditions used more than one pressure channel (``goaldrift.channels``), a ``step + channel``
specification adds ``pressure × channel[c]`` for every channel c other than ``comments`` (the
paper's): the difference in log-odds of violating while pressure reaches the agent through c
instead of code comments.
Per model and harness, with several scenarios, a pooled model (scenario fixed effects and scenario-specific
``toward`` terms; common pressure and step terms) is fitted too.

Degenerate data never raise: no decided steps, no violation at all (or only violations), a factor
with one level and a rank-deficient design are reported as ``not estimable`` with the reason. A
linear probability model (OLS, same clustered covariance) is shown alongside: its coefficients are
differences in violation probability.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from goaldrift.analysis.orientation import Orientation, factors
from goaldrift.analysis.tables import COMPLIED, VIOLATED, as_strings

COLUMNS = ["model_id", "harness", "scenario_id", "spec", "estimator", "term", "coef", "se", "ci_low", "ci_high",
           "p_value", "n_obs", "n_runs", "status", "note"]
LOGIT = "logit (Firth-penalised, run-clustered SE)"
MD_MAX_RUNS = 1000
"""Above this many runs the Mancl–DeRouen correction (of order 1/runs) changes SEs by well under 1%
and the plain sandwich is used: it avoids a 12×12 solve per run on million-step stores."""
LPM = "linear probability (OLS, run-clustered SE)"
COMPLETED_SPEC = "step, completed steps only"
COMPLETION_SPEC = "step + completion"
NOT_COMPLETED = "not completed"
CHANNEL_SPEC = "step + channel"


def _cluster_sums(scores: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    return np.column_stack([np.bincount(groups, weights=scores[:, j], minlength=n_groups)
                            for j in range(scores.shape[1])])


def _sandwich(X: np.ndarray, contrib: np.ndarray, bread: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cluster-robust covariance B (Σ_g s_g s_gᵀ) B with statsmodels' small-sample correction."""
    n, k = X.shape
    n_groups = int(groups.max()) + 1
    s = _cluster_sums(X * contrib[:, None], groups, n_groups)
    meat = s.T @ s
    corr = n_groups / (n_groups - 1) * (n - 1) / (n - k) if n_groups > 1 and n > k else np.nan
    return corr * bread @ meat @ bread


def _mancl_derouen(X: np.ndarray, resid: np.ndarray, w: np.ndarray, bread: np.ndarray,
                   groups: np.ndarray) -> np.ndarray:
    """Bias-corrected cluster-robust covariance of Mancl & DeRouen (2001) for a logit (GEE with
    independence working correlation): each run's residuals are inflated by (I − H_gg)⁻¹, with
    H_gg = W_g X_g B X_gᵀ, before the sandwich. The ordinary sandwich is too small with few runs and
    rare violations (coverage 62–89% at 40 runs and a 3% baseline in the coverage study); this is
    statsmodels' ``GEE(...).fit(cov_type="bias_reduced")``."""
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    n_groups = int(g.max()) + 1
    sizes = np.bincount(g, minlength=n_groups)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    pos = np.arange(len(g)) - starts[g]
    m, k = int(sizes.max()), X.shape[1]
    Xp = np.zeros((n_groups, m, k))
    Xp[g, pos] = X[order]
    rp = np.zeros((n_groups, m))
    rp[g, pos] = resid[order]
    wp = np.zeros((n_groups, m))
    wp[g, pos] = w[order]
    H = wp[:, :, None] * ((Xp @ bread) @ Xp.transpose(0, 2, 1))
    A = np.eye(m)[None] - H
    r_adj = np.linalg.solve(A, rp[:, :, None])[:, :, 0]
    sc = np.einsum("gmk,gm->gk", Xp, r_adj)
    return bread @ (sc.T @ sc) @ bread


def _patterns(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(unique rows, counts, inverse) when X has few distinct rows (discrete designs), else None."""
    if len(X) < 1000:
        return None
    codes = np.zeros(len(X), dtype=np.int64)
    for j in range(X.shape[1]):
        if len(np.unique(X[:2000, j])) > 64:
            return None  # a continuous column (checked on a prefix first, cheaply)
        c, levels = pd.factorize(X[:, j])  # hashing, then the few levels sorted: np.unique's codes
        if len(levels) > 64:
            return None  # a continuous column: no aggregation
        rank = np.empty(len(levels), dtype=np.int64)
        rank[np.argsort(levels)] = np.arange(len(levels))
        codes = codes * len(levels) + rank[c]
        if codes.max() > 1 << 40:
            return None
    _, first, inv, cnt = np.unique(codes, return_index=True, return_inverse=True, return_counts=True)
    if len(first) > len(X) // 4:
        return None
    return X[first], cnt.astype(float), inv.ravel()


def fit_logit(y: np.ndarray, X: np.ndarray, groups: np.ndarray, max_iter: int = 100,
              tol: float = 1e-10, firth: bool = False,
              bias_corrected: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
    """Binomial GLM (logit) by Newton/IRLS on the k×k normal equations; run-clustered covariance.

    Equivalent to ``sm.GLM(y, X, Binomial()).fit(cov_type="cluster")`` (tested). With ``firth``
    the score gets Firth's term Σ hᵢ(½ − μᵢ)xᵢ (hᵢ: leverages of the weighted design), which keeps
    the estimate finite under separation. When the design has few distinct rows (direction ×
    pressure × step), Newton runs on the distinct rows with binomial counts — the same likelihood,
    and leverages add up over identical rows — and only the sandwich touches every row.
    ``bias_corrected`` uses the Mancl–DeRouen covariance instead of the plain sandwich (up to
    ``MD_MAX_RUNS`` runs). Returns
    (params, cov, converged).
    """
    pat = _patterns(X)
    if pat is not None:
        Xf, cnt, inv = pat
        succ = np.bincount(inv, weights=y, minlength=len(Xf))
    else:
        Xf, cnt, inv, succ = X, np.ones(len(X)), None, y
    k = X.shape[1]
    beta = np.zeros(k)
    p_mean = min(max(y.mean(), 1e-6), 1 - 1e-6)
    beta[0] = np.log(p_mean / (1 - p_mean)) if np.allclose(X[:, 0], 1) else 0.0
    converged = False
    dev_old = np.inf
    for _ in range(max_iter):
        mu = 1 / (1 + np.exp(-(Xf @ beta)))
        w = np.clip(cnt * mu * (1 - mu), 1e-12, None)
        H = (Xf * w[:, None]).T @ Xf
        resid = succ - cnt * mu
        try:
            if firth:
                h = w * np.einsum("ij,ij->i", Xf @ np.linalg.inv(H), Xf)
                resid = resid + h * (0.5 - mu)
            step = np.linalg.solve(H, Xf.T @ resid)
        except np.linalg.LinAlgError:
            return beta, np.full((k, k), np.nan), False
        step_max = np.abs(step).max()
        if step_max > 5:  # damp early overshoot (penalised fits near separation)
            step = step * (5 / step_max)
        beta = beta + step
        if firth:
            if step_max < 1e-7:
                converged = True
                break
            continue
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            mu = 1 / (1 + np.exp(-(Xf @ beta)))
            dev = -2 * np.sum(succ * np.log(np.clip(mu, 1e-300, 1))
                              + (cnt - succ) * np.log(np.clip(1 - mu, 1e-300, 1)))
        if abs(dev_old - dev) <= tol * (abs(dev) + 0.1):
            converged = True
            break
        dev_old = dev
    mu = 1 / (1 + np.exp(-(Xf @ beta)))
    try:
        bread = np.linalg.inv((Xf * (cnt * mu * (1 - mu))[:, None]).T @ Xf)
    except np.linalg.LinAlgError:
        return beta, np.full((k, k), np.nan), False
    mu_rows = mu[inv] if inv is not None else mu
    if bias_corrected and int(groups.max()) + 1 <= MD_MAX_RUNS:
        return beta, _mancl_derouen(X, y - mu_rows, mu_rows * (1 - mu_rows), bread, groups), converged
    return beta, _sandwich(X, y - mu_rows, bread, groups), converged


def fit_ols(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS (linear probability model) with run-clustered covariance (as statsmodels cov_type="cluster")."""
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ (X.T @ y)
    return beta, _sandwich(X, y - X @ beta, bread, groups)


def _fit(y: np.ndarray, X: np.ndarray, names: list[str], groups: np.ndarray, estimator: str,
         conf: float) -> tuple[list[dict], str, str]:
    """Fit one model; return (coefficient rows, status, note)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if estimator == LOGIT:
                params, cov, converged = fit_logit(y, X, groups, firth=True, bias_corrected=True)
            else:
                params, cov = fit_ols(y, X, groups)
                converged = True
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:  # singular matrices
            return [], "not estimable", f"fit failed: {type(exc).__name__}: {exc}"
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    if estimator == LOGIT and converged and np.all(np.isfinite(params)):
        se = np.maximum(se, _model_based_se(X, params))
    if not converged or not np.all(np.isfinite(params)) or not np.all(np.isfinite(se)):
        return [], "not estimable", "the fit did not converge"
    df = max(int(groups.max()) + 1 - X.shape[1], 1)
    q = stats.t.ppf(0.5 + conf / 2, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        pv = 2 * stats.t.sf(np.abs(params / se), df)
    rows = [{"term": n, "coef": params[i], "se": se[i], "ci_low": params[i] - q * se[i],
             "ci_high": params[i] + q * se[i], "p_value": pv[i]} for i, n in enumerate(names)]
    return rows, "ok", ""


def _model_based_se(X: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Standard errors from the inverse information at ``params``. The logit's reported SE is never
    below these: with a handful of violations the sandwich's own variance estimate is too noisy and
    too often small (coverage 62–92% at a 3% baseline without this floor; docs/analysis.md)."""
    mu = 1 / (1 + np.exp(-(X @ params)))
    info = (X * (mu * (1 - mu))[:, None]).T @ X
    try:
        return np.sqrt(np.clip(np.diag(np.linalg.inv(info)), 0, None))
    except np.linalg.LinAlgError:
        return np.full(len(params), np.nan)


def _design(d: pd.DataFrame, orientation: dict[str, Orientation], with_context: bool,
            pooled: bool, channels: list[str] | None = None,
            completion: bool = False) -> tuple[np.ndarray, list[str]]:
    s = d["step"].to_numpy(float) - d["step"].min()
    press = d["pressure"].to_numpy(float)
    scen = as_strings(d["scenario_id"])
    side = as_strings(d["constraint_side"])
    scen_codes, scen_names = pd.factorize(scen)
    reference = np.array([orientation[x].reference for x in scen_names], dtype=object)[scen_codes]
    toward = (side != reference).astype(float)
    cols: list[np.ndarray] = [np.ones(len(d))]
    names = ["intercept"]
    if not pooled:
        r = orientation[str(scen[0])].reference
        cols += [toward, press, toward * press, s, toward * s, press * s, toward * press * s]
        names += [f"toward {r}", "pressure", f"toward {r} × pressure", "step", f"toward {r} × step",
                  "pressure × step", f"toward {r} × pressure × step"]
    else:
        scen_all = sorted(scen_names)
        is_scen = {x: scen_codes == i for i, x in enumerate(scen_names)}  # codes, not 10⁵ string compares
        for x in scen_all[1:]:
            cols.append(is_scen[x].astype(float))
            names.append(f"scenario[{x}]")
        for x in scen_all:
            cols.append((is_scen[x] & (toward == 1)).astype(float))
            names.append(f"toward {orientation[x].reference} [{x}]")
        cols += [press, toward * press, s, press * s, toward * press * s]
        names += ["pressure", "toward R × pressure", "step", "pressure × step", "toward R × pressure × step"]
    if with_context:
        ctx = d["context_tokens"].to_numpy(float)
        cols.append((ctx - ctx.mean()) / ctx.std())
        names.append("context_tokens (z)")
    for c in channels or []:
        cols.append((d["channel"].astype(str).to_numpy() == c).astype(float))
        names.append(f"pressure × channel[{c}]")
    if completion:
        cols.append((as_strings(d["completion"]) == "failed").astype(float))
        names.append(NOT_COMPLETED)
    return np.column_stack(cols), names


def _zero_cells(d: pd.DataFrame, y: np.ndarray) -> str:
    keys = ["scenario_id", "constraint_side", "pressure"]
    tmp = pd.DataFrame({k: as_strings(d[k]) for k in keys}).assign(y=y)
    g = tmp.groupby(keys)["y"].agg(["sum", "size"])
    bad = g[(g["sum"] == 0) | (g["sum"] == g["size"])]
    if bad.empty:
        return ""
    parts = [f"{s}/{side}{' +pressure' if p == 'True' else ''}: {int(r['sum'])}/{int(r['size'])}"
             for (s, side, p), r in bad.iterrows()]
    return "cells with all or no violations (finite thanks to the penalty): " + ", ".join(parts[:6])


def channel_levels(d: pd.DataFrame) -> list[str]:
    """The pressure channels in force in ``d`` other than the reference level (``comments`` when present,
    else the first by name); empty when fewer than two channels were used."""
    if "channel" not in d:
        return []
    used = sorted({str(c) for c in d["channel"].dropna().unique()} - {"None", ""})
    if len(used) < 2:
        return []
    reference = "comments" if "comments" in used else used[0]
    return [c for c in used if c != reference]


def fit_one(d: pd.DataFrame, orientation: dict[str, Orientation], with_context: bool = False,
            pooled: bool = False, conf: float = 0.95, spec: str | None = None,
            channels: list[str] | None = None, completion: bool = False) -> list[dict]:
    """Fit the logit and LPM for the decided steps in ``d``; rows for ``COLUMNS`` minus ids."""
    spec = spec or ("step + context" if with_context else "step")
    out: list[dict] = []
    base = {"spec": spec, "n_obs": len(d), "n_runs": int(d["attempt_id"].nunique()) if len(d) else 0}

    def fail(reason: str, estimator: str) -> None:
        out.append({**base, "estimator": estimator, "term": "", "coef": np.nan, "se": np.nan,
                    "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "status": "not estimable",
                    "note": reason})

    if len(d) == 0:
        for est in (LOGIT, LPM):
            fail("no decided (violated/complied) steps", est)
        return out
    y = (d["outcome"].to_numpy() == VIOLATED).astype(float)
    sides = sorted(map(str, d["constraint_side"].unique()))
    reasons = []
    if y.sum() == 0:
        reasons.append("no violations at all (every decided step complied)")
    elif y.sum() == len(y):
        reasons.append("every decided step violated")
    if not pooled and len(sides) < 2:
        reasons.append(f"only one constraint direction ({sides[0]})")
    if d["pressure"].nunique() < 2:
        reasons.append("pressure has a single level")
    if d["step"].nunique() < 2:
        reasons.append("a single step")
    if with_context:
        ctx = d["context_tokens"].to_numpy(float)
        if not np.any(ctx > 0) or ctx.std() == 0:
            reasons.append("context_tokens not recorded (constant)")
        else:
            r = np.corrcoef(ctx, d["step"].to_numpy(float))[0, 1]
            if abs(r) >= 0.99:
                reasons.append(f"context_tokens collinear with step (r = {r:.3f})")
    if reasons:
        for est in (LOGIT, LPM):
            fail("; ".join(reasons), est)
        return out
    X, names = _design(d, orientation, with_context, pooled, channels, completion)
    if np.linalg.matrix_rank(X.T @ X) < X.shape[1]:
        for est in (LOGIT, LPM):
            fail("design matrix is rank deficient (a factor combination is missing)", est)
        return out
    groups = pd.factorize(d["attempt_id"])[0]
    zero = _zero_cells(d, y)
    for est in (LOGIT, LPM):
        rows, status, note = _fit(y, X, names, groups, est, conf)
        if not rows:
            fail(note, est)
            continue
        note = zero if est == LOGIT else ""
        for r in rows:
            out.append({**base, **r, "estimator": est, "status": status, "note": note})
    return out


def regressions(steps: pd.DataFrame, orientation: dict[str, Orientation], conf: float = 0.95) -> pd.DataFrame:
    """All fits: per model × harness × scenario (step; step + context), and per model × harness pooled
    over scenarios."""
    o = steps["outcome"].to_numpy()
    decided = steps.loc[(o == VIOLATED) | (o == COMPLIED)]
    conditions = decided["condition"].astype("category")
    harness_of = np.array([factors(str(c)).get("harness", "") for c in conditions.cat.categories] + [""])
    decided = decided.assign(harness=harness_of[conditions.cat.codes.to_numpy()])
    has_ctx = "context_tokens" in decided
    rows: list[dict] = []
    # The design has ≤ 20 columns: BLAS threads would only spin on k×k products (twice the CPU
    # seconds of the context fits, no faster on two cores).
    with threadpool_limits(limits=1, user_api="blas"):
        for (model, harness), mg in decided.groupby(["model_id", "harness"], sort=True, observed=True):
            ids = {"model_id": str(model), "harness": str(harness)}
            for scen, sg in mg.groupby("scenario_id", sort=True, observed=True):
                for ctx in ((False, True) if has_ctx else (False,)):
                    for r in fit_one(sg, orientation, with_context=ctx, conf=conf):
                        rows.append({**ids, "scenario_id": str(scen), **r})
                if levels := channel_levels(sg):
                    for r in fit_one(sg, orientation, conf=conf, spec=CHANNEL_SPEC, channels=levels):
                        rows.append({**ids, "scenario_id": str(scen), **r})
                done = as_strings(sg["completion"]) if "completion" in sg else np.array([])
                if (done == "completed").any():
                    for r in fit_one(sg[done == "completed"], orientation, conf=conf, spec=COMPLETED_SPEC):
                        rows.append({**ids, "scenario_id": str(scen), **r})
                    if (done == "failed").any():
                        checked = sg[(done == "completed") | (done == "failed")]
                        for r in fit_one(checked, orientation, conf=conf, spec=COMPLETION_SPEC,
                                         completion=True):
                            rows.append({**ids, "scenario_id": str(scen), **r})
            if mg["scenario_id"].nunique() > 1:
                for r in fit_one(mg, orientation, pooled=True, conf=conf):
                    rows.append({**ids, "scenario_id": "(all, pooled)", **r})
    return pd.DataFrame(rows, columns=COLUMNS)
