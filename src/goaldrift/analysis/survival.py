"""Time to first violation: Kaplan–Meier curves and log-rank tests (via lifelines).

The event is a run's first violated step. A run that never violated is censored at its last
observed step (right-censoring: "no violation through step t"). Steps are discrete (1..12), so many
runs share event times; lifelines' KM handles ties in the usual way (d_t / n_t per distinct time),
and its log-rank test is the standard Mantel–Haenszel form with the hypergeometric variance for ties.

Assumption worth stating: censoring is non-informative. Here censoring only happens at the end of a
run (or when a run stops early), so it is administrative, which satisfies it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test

CELL = ["model_id", "scenario_id", "condition"]


def durations(first: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(duration, event) per run: the first violated step (event 1) or the last step (event 0)."""
    fv = first["first_violation"].to_numpy(dtype=float)
    event = np.isfinite(fv)
    dur = np.where(event, fv, first["last_step"].to_numpy(dtype=float))
    return dur, event.astype(int)


def kaplan_meier(duration, event, conf: float = 0.95) -> pd.DataFrame:
    """KM estimate with lifelines' (exponential Greenwood) CI at each distinct time.

    Columns: time, at_risk, events, censored, survival, ci_low, ci_high.
    """
    kmf = KaplanMeierFitter(alpha=1 - conf)
    kmf.fit(np.asarray(duration, float), np.asarray(event, int))
    table = kmf.event_table
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    out = pd.DataFrame({
        "time": table.index.to_numpy(dtype=float),
        "at_risk": table["at_risk"].to_numpy(),
        "events": table["observed"].to_numpy(),
        "censored": table["censored"].to_numpy(),
        "survival": sf.reindex(table.index).to_numpy(),
        "ci_low": ci.iloc[:, 0].reindex(table.index).to_numpy(),
        "ci_high": ci.iloc[:, 1].reindex(table.index).to_numpy(),
    })
    return out[out["time"] > 0].reset_index(drop=True) if (out["time"] == 0).any() else out


def km_curves(first: pd.DataFrame, conf: float = 0.95) -> pd.DataFrame:
    """KM curves of the first violation per model × scenario × condition."""
    frames = []
    for key, g in first.groupby(CELL, sort=True, observed=True):
        d, e = durations(g)
        km = kaplan_meier(d, e, conf)
        for c, v in zip(CELL, key):
            km.insert(CELL.index(c), c, v)
        km["runs"] = len(g)
        frames.append(km)
    if not frames:
        return pd.DataFrame(columns=[*CELL, "time", "at_risk", "events", "censored", "survival", "ci_low",
                                     "ci_high", "runs"])
    return pd.concat(frames, ignore_index=True)


def _test(fn, *args) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fn(*args)
    stat = float(res.test_statistic)
    p = float(res.p_value)
    return stat, p


def logrank(first: pd.DataFrame) -> pd.DataFrame:
    """Log-rank tests per model × scenario.

    Rows: ``all conditions`` (multivariate, df = k − 1), then pairwise: each pressure condition vs
    the baseline with the same constraint side, and the two baselines against each other. A test
    with no events at all is reported as not estimable (NaN, with a note).
    """
    rows = []
    for (model, scen), g in first.groupby(["model_id", "scenario_id"], sort=True, observed=True):
        d, e = durations(g)
        conds = g["condition"].astype(str).to_numpy()
        names = sorted(set(conds))
        comparisons: list[tuple[str, list[str]]] = []
        if len(names) > 1:
            comparisons.append(("all conditions", names))
        side = g.groupby("condition", observed=True)["constraint_side"].first().astype(str).to_dict()
        press = g.groupby("condition", observed=True)["pressure"].first().to_dict()
        bases = {side[c]: c for c in names if not press[c]}
        for c in names:
            if press[c] and side[c] in bases:
                comparisons.append((f"{c} vs {bases[side[c]]}", [bases[side[c]], c]))
        if len(bases) == 2:
            a, b = sorted(bases.values())
            comparisons.append((f"{a} vs {b}", [a, b]))
        for label, cs in comparisons:
            m = np.isin(conds, cs)
            n, ev = int(m.sum()), int(e[m].sum())
            if ev == 0:
                rows.append(dict(model_id=model, scenario_id=scen, comparison=label, statistic=np.nan,
                                 df=len(cs) - 1, p_value=np.nan, runs=n, events=ev,
                                 note="not estimable: no violations in these conditions"))
                continue
            if len(cs) == 2:
                a, b = (conds[m] == cs[0]), (conds[m] == cs[1])
                stat, p = _test(logrank_test, d[m][a], d[m][b], e[m][a], e[m][b])
            else:
                stat, p = _test(multivariate_logrank_test, d[m], conds[m], e[m])
            rows.append(dict(model_id=model, scenario_id=scen, comparison=label, statistic=stat,
                             df=len(cs) - 1, p_value=p, runs=n, events=ev, note=""))
    cols = ["model_id", "scenario_id", "comparison", "statistic", "df", "p_value", "runs", "events", "note"]
    return pd.DataFrame(rows, columns=cols)


__all__ = ["durations", "kaplan_meier", "km_curves", "logrank"]
