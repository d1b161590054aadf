"""Time to first violation: discrete-time Kaplan–Meier curves and log-rank tests.

The event is a run's first violated step. Steps without a decision (``not_applicable``: the agent
wrote nothing the detector could judge; ``error``: the step or detector failed) are **never** "no
violation yet": at such a step the run is not at risk (nothing could be observed), and a run that
never violated is **censored after its last decided step** — not at its last step. So 5 runs that
violate at step 3 and 5 runs that implement nothing give "100% violated by step 3 among the 5 runs
with decisions", not 50%. Runs whose agent failed (a failed attempt) count with the steps they
completed and are censored the same way, not dropped.

Per step t and group: n_t = runs with a decided step t and no violation before t (decided-n at
risk), d_t = first violations at t. S(t) = Π_{s ≤ t} (1 − d_s / n_s). This is the Kaplan–Meier
estimator with intermittent risk sets; it assumes that whether a step is decided is unrelated to
whether it would have violated (non-informative censoring). Competing-risk modelling of n/a would
instead treat "implemented nothing" as an outcome of its own; we report n/a and error counts per step
next to every curve so that a reader sees when the assumption is strained.

- CI: Rothman's (1978) score interval with Yates' continuity correction: the continuity-corrected
  Wilson interval for 1 − S on the *effective sample size* n_eff = S(1 − S) / Var_Greenwood(S)
  (Dorey & Korn 1987). Without censoring n_eff is the number of runs and the interval is exactly the
  continuity-corrected Wilson interval of "violated by t out of n", the one the per-step rates use.
  Why not the exponential-Greenwood (log(−log S)) interval of lifelines: at 10 runs per condition its
  worst condition-step covered only 90.6–93.0% for nominal 95% in the coverage study; this one
  95.2–97.0% (Fay, Brittain & Proschan 2013 show the same small-sample undercoverage of Greenwood-type
  intervals). Where Greenwood's variance is 0 — before the first violation (S = 1) and after every
  run at risk violated (S = 0) — n_eff is the runs at risk so far (S = 1) or the last effective
  sample size before S reached 0, so the interval never collapses to a point. Before any decided
  step the interval is [0, 1].
- Log-rank: observed vs expected first violations per group under a common hazard at each step,
  hypergeometric variance for ties; χ² on k − 1 df. Comparisons: all conditions, each pressure
  condition against *its* baseline (same constraint side and placement/session, named), and the two
  plain baselines.

Small numpy implementations (a report fits dozens of cells; lifelines takes ~0.1 s per fit), tested
against lifelines and the textbook Freireich (6-MP) leukaemia example.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from goaldrift.analysis import intervals
from goaldrift.analysis.orientation import baseline_of, factors
from goaldrift.analysis.tables import COMPLIED, VIOLATED

CELL = ["model_id", "scenario_id", "condition"]
KM_COLUMNS = [*CELL, "time", "at_risk", "events", "censored", "undecided", "survival", "ci_low", "ci_high",
              "runs"]


def greenwood(n: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S(t) and Greenwood's variance S²·Σ d/(n(n − d)) from at-risk and event counts (last axis = time)."""
    n = np.asarray(n, float)
    d = np.asarray(d, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.cumprod(np.where(n > 0, 1 - d / np.where(n > 0, n, 1), 1.0), axis=-1)
        gw = np.cumsum(np.where((n > d) & (n > 0), d / (n * (n - d)), 0.0), axis=-1)
    return s, s * s * gw


def km_from_counts(n: np.ndarray, d: np.ndarray, conf: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S(t) and its interval (Rothman's continuity-corrected score interval) from at-risk and event
    counts per time (last axis = time)."""
    s, var = greenwood(n, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(var > 0, s * (1 - s) / var, np.nan)
    # Where Greenwood's variance is 0: at S = 1 the runs at risk so far; at S = 0 the last effective
    # sample size before it (without censoring: all runs), or the runs at risk if S fell from 1 to 0.
    n_seen = _carry(np.where(np.asarray(n) > 0, n, np.nan))
    n_eff = np.where(s >= 1, n_seen, np.where(s <= 0, _carry(np.where(s <= 0, np.nan, n_eff)), n_eff))
    n_eff = np.where(np.isnan(n_eff), n_seen, n_eff)
    v_lo, v_hi = intervals.wilson((1 - s) * n_eff, n_eff, conf, continuity=True)  # of 1 − S
    return s, np.nan_to_num(1 - v_hi, nan=0.0), np.nan_to_num(1 - v_lo, nan=1.0)


def _carry(x: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along the last axis (the last known value)."""
    idx = np.where(np.isnan(x), 0, np.arange(x.shape[-1]))
    idx = np.maximum.accumulate(idx, axis=-1)
    return np.take_along_axis(x, idx, axis=-1)


def kaplan_meier(duration, event, conf: float = 0.95) -> pd.DataFrame:
    """KM at each distinct time of classical (duration, event) data, with ``km_from_counts``' CI.

    Columns: time, at_risk, events, censored, survival, ci_low, ci_high.
    """
    duration = np.asarray(duration, float)
    event = np.asarray(event, float)
    times, inv = np.unique(duration, return_inverse=True)
    d = np.bincount(inv, weights=event, minlength=len(times))
    c = np.bincount(inv, weights=1 - event, minlength=len(times))
    n = len(duration) - np.r_[0, np.cumsum(d + c)[:-1]]
    s, lo, hi = km_from_counts(n, d, conf)
    return pd.DataFrame({"time": times, "at_risk": n.astype(int), "events": d.astype(int),
                         "censored": c.astype(int), "survival": s, "ci_low": lo, "ci_high": hi})


def logrank_from_counts(n: np.ndarray, d: np.ndarray) -> tuple[float, int, float]:
    """k-sample log-rank from at-risk ``n`` and events ``d`` (time × group): (χ², df, p)."""
    n = np.asarray(n, float)
    d = np.asarray(d, float)
    k = n.shape[1]
    if k < 2 or d.sum() == 0:
        return float("nan"), max(k - 1, 0), float("nan")
    N = n.sum(axis=1)
    D = d.sum(axis=1)
    ok = (N > 0) & (D > 0)
    n, d, N, D = n[ok], d[ok], N[ok], D[ok]
    E = n * (D / N)[:, None]
    O_E = (d - E).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(N > 1, D * (N - D) / (N * N * (N - 1)), 0.0)
    V = np.einsum("t,ti,tj->ij", f, n, n) * -1
    V[np.diag_indices(k)] += (f[:, None] * n * N[:, None]).sum(axis=0)
    v = V[:-1, :-1]
    u = O_E[:-1]
    try:
        chi2 = float(u @ np.linalg.solve(v, u))
    except np.linalg.LinAlgError:
        chi2 = float(u @ np.linalg.pinv(v) @ u)
    return chi2, k - 1, float(stats.chi2.sf(chi2, k - 1))


def logrank_test(duration, event, group) -> tuple[float, int, float]:
    """k-sample log-rank test of classical (duration, event) data: (χ², df, p)."""
    duration = np.asarray(duration, float)
    event = np.asarray(event, float)
    codes, groups = pd.factorize(np.asarray(group), sort=True)
    times, inv = np.unique(duration, return_inverse=True)
    d = np.zeros((len(times), len(groups)))
    r = np.zeros((len(times), len(groups)))
    np.add.at(d, (inv, codes), event)
    np.add.at(r, (inv, codes), 1.0)
    n = r.sum(axis=0)[None, :] - np.vstack([np.zeros((1, len(groups))), np.cumsum(r, axis=0)[:-1]])
    return logrank_from_counts(n, d)


def risk_table(steps: pd.DataFrame) -> pd.DataFrame:
    """Per model × scenario × condition × step: decided runs at risk, first violations, runs censored
    after this step (no violation, last decided step), and undecided (n/a or error) event-free runs.

    ``steps`` is ``tables.load_steps`` output (attempt_id, step, outcome code, cell columns).
    """
    cols = [*CELL, "time", "at_risk", "events", "censored", "undecided", "runs"]
    if steps.empty:
        return pd.DataFrame(columns=cols)
    aid = steps["attempt_id"].to_numpy()
    run_idx, run_ids = pd.factorize(aid)
    t = steps["step"].to_numpy().astype(np.int64)
    t0, t1 = int(t.min()), int(t.max())
    T = t1 - t0 + 1
    ti = t - t0
    o = steps["outcome"].to_numpy()
    decided = (o == VIOLATED) | (o == COMPLIED)
    R = len(run_ids)
    fv = np.full(R, T, dtype=np.int64)  # first violation index (T = none)
    np.minimum.at(fv, run_idx[o == VIOLATED], ti[o == VIOLATED])
    last_dec = np.full(R, -1, dtype=np.int64)
    np.maximum.at(last_dec, run_idx[decided], ti[decided])
    free = ti <= fv[run_idx]  # no violation before this step
    at_risk = decided & free
    event = (o == VIOLATED) & (ti == fv[run_idx])
    undecided = ~decided & (ti < fv[run_idx])
    first_rows = np.unique(run_idx, return_index=True)[1]
    cell_of_run = pd.MultiIndex.from_frame(steps.iloc[first_rows][CELL].astype(str))
    ccode, cells = pd.factorize(cell_of_run, sort=True)
    rc = ccode[run_idx]
    C = len(cells)

    def count(mask: np.ndarray) -> np.ndarray:
        out = np.zeros((C, T), dtype=np.int64)
        np.add.at(out, (rc[mask], ti[mask]), 1)
        return out

    cens = np.zeros((C, T), dtype=np.int64)
    c_runs = (fv == T) & (last_dec >= 0)
    np.add.at(cens, (ccode[c_runs], last_dec[c_runs]), 1)
    frame = pd.DataFrame(list(cells), columns=CELL).loc[np.repeat(np.arange(C), T)].reset_index(drop=True)
    frame["time"] = np.tile(np.arange(t0, t1 + 1), C)
    frame["at_risk"] = count(at_risk).ravel()
    frame["events"] = count(event).ravel()
    frame["censored"] = cens.ravel()
    frame["undecided"] = count(undecided).ravel()
    frame["runs"] = np.repeat(np.bincount(ccode, minlength=C), T)
    return frame[cols]


def km_curves(steps: pd.DataFrame, conf: float = 0.95) -> pd.DataFrame:
    """KM curves of the first violation per model × scenario × condition, one row per step."""
    tab = risk_table(steps)
    if tab.empty:
        return pd.DataFrame(columns=KM_COLUMNS)
    T = tab["time"].nunique()
    n = tab["at_risk"].to_numpy().reshape(-1, T)
    d = tab["events"].to_numpy().reshape(-1, T)
    s, lo, hi = km_from_counts(n, d, conf)
    tab["survival"], tab["ci_low"], tab["ci_high"] = s.ravel(), lo.ravel(), hi.ravel()
    return tab[KM_COLUMNS]


def logrank(km: pd.DataFrame, cond_attrs: pd.DataFrame) -> pd.DataFrame:
    """Log-rank tests per model × scenario from ``km_curves`` output.

    ``cond_attrs``: scenario_id, condition, constraint_side, pressure. Rows: ``all conditions``
    (k-sample), each pressure condition against its own baseline (named), and the two plain
    baselines (of each harness, when the conditions carry one). A comparison without any violation is reported as not estimable.
    """
    cols = ["model_id", "scenario_id", "comparison", "baseline", "statistic", "df", "p_value", "runs", "events",
            "note"]
    rows = []
    attrs = {(str(r.scenario_id), str(r.condition)): (str(r.constraint_side), bool(r.pressure))
             for r in cond_attrs.itertuples()}
    for (model, scen), g in km.groupby(["model_id", "scenario_id"], sort=True):
        n_by = {c: x["at_risk"].to_numpy() for c, x in g.groupby("condition", sort=True)}
        d_by = {c: x["events"].to_numpy() for c, x in g.groupby("condition", sort=True)}
        runs_by = {c: int(x["runs"].iloc[0]) for c, x in g.groupby("condition", sort=True)}
        names = sorted(n_by)
        comparisons: list[tuple[str, str, list[str]]] = []
        if len(names) > 1:
            comparisons.append(("all conditions", "", names))
        bases = [c for c in names if not attrs.get((scen, c), ("", False))[1]]
        for c in names:
            side, press = attrs.get((scen, c), ("", False))
            if press:
                b = baseline_of(c, side, bases)
                if b is not None:
                    comparisons.append((f"{c} vs {b}", b, [b, c]))
        plain: dict[str, list[str]] = {}  # the plain baselines, per harness when the experiment compared several
        for b in bases:
            if set(factors(b)) <= {"harness"}:
                plain.setdefault(factors(b).get("harness", ""), []).append(b)
        for pair in (sorted(p) for _, p in sorted(plain.items())):
            if len(pair) == 2:
                comparisons.append((f"{pair[0]} vs {pair[1]}", "", pair))
        for label, base, cs in comparisons:
            n = np.column_stack([n_by[c] for c in cs])
            d = np.column_stack([d_by[c] for c in cs])
            runs, ev = sum(runs_by[c] for c in cs), int(d.sum())
            if ev == 0:
                rows.append({"model_id": model, "scenario_id": scen, "comparison": label, "baseline": base,
                             "statistic": np.nan, "df": len(cs) - 1, "p_value": np.nan, "runs": runs, "events": ev,
                             "note": "not estimable: no violations in these conditions"})
                continue
            stat, df, p = logrank_from_counts(n, d)
            rows.append({"model_id": model, "scenario_id": scen, "comparison": label, "baseline": base,
                         "statistic": stat, "df": df, "p_value": p, "runs": runs, "events": ev, "note": ""})
    return pd.DataFrame(rows, columns=cols)
