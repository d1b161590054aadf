"""Pressure effects and the asymmetry between the two directions of a value pair, oriented.

For one model and one scenario with reference side R and other side O (``analysis.orientation``),
the four conditions of the 2×2 play the roles ``R`` and ``O`` (baselines), ``R->O`` (pressure away
from R) and ``O->R`` (pressure toward R). On pooled rates, rate(c) = Σ violated / Σ decided over the
condition's runs (not-applicable and errored steps are left out):

- ``pressure_effect`` per constraint side: rate(pressure condition) − rate(its baseline);
- ``drift_contrast`` — the paper's contrast: rate(O->R) − rate(R->O), "drift toward R minus drift
  away from it" under pressure;
- ``pressure_asymmetry``: [rate(O->R) − rate(O)] − [rate(R->O) − rate(R)], "pressure effect toward
  R minus pressure effect away from it";
- ``baseline_asymmetry``: rate(O) − rate(R), "violations toward R minus away from it without
  pressure".

Positive always means "more toward R". Intervals: each rate has a design-effect Wilson interval
(``intervals.clustered_rate``), the contrasts a MOVER interval from those (``intervals.mover``); both
were chosen for coverage at 10 runs per condition with correlated steps (docs/analysis.md gives the
coverage study). In factor experiments the contrasts are formed per set of pressure factors
(``@dose=0.5`` …), each pressure condition against its own baseline (``orientation.baseline_of``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from goaldrift.analysis import intervals
from goaldrift.analysis.orientation import Orientation, baseline_of, factor_suffix

COLUMNS = ["model_id", "scenario_id", "estimand", "label", "definition", "reference", "factors", "estimate",
           "ci_low", "ci_high", "n_runs", "note"]

ROLES = ("R", "R->O", "O", "O->R")
"""The four conditions of an oriented 2×2, in the order of the coefficient vectors below."""

CONTRASTS: dict[str, tuple[tuple[int, int, int, int], str, str]] = {
    "drift_contrast": ((0, -1, 0, 1), "drift toward {ref} minus drift away from it",
                       "rate({O->R}) − rate({R->O})"),
    "pressure_asymmetry": ((1, -1, -1, 1), "pressure effect toward {ref} minus pressure effect away from it",
                           "[rate({O->R}) − rate({O})] − [rate({R->O}) − rate({R})]"),
    "baseline_asymmetry": ((-1, 0, 1, 0), "violations toward {ref} minus away from it, without pressure",
                           "rate({O}) − rate({R})"),
}
EFFECTS = {"O": ((0, 0, -1, 1), "pressure effect toward {ref} ({other} constraint)", "rate({O->R}) − rate({O})"),
           "R": ((-1, 1, 0, 0), "pressure effect away from {ref} ({ref} constraint)", "rate({R->O}) − rate({R})")}


def condition_rates(first: pd.DataFrame, conf: float = 0.95) -> pd.DataFrame:
    """Per model × scenario × condition: pooled rate with its clustered interval.

    ``first`` is ``rates.first_violation`` output (per run: n_violated, n_complied, condition,
    constraint_side, pressure). Columns: model_id, scenario_id, condition, constraint_side,
    pressure, runs (with decided steps), violated, decided, rate, ci_low, ci_high, deff, note.
    """
    keys = ["model_id", "scenario_id", "condition"]
    if first.empty:
        return pd.DataFrame(columns=[*keys, "constraint_side", "pressure", "runs", "violated", "decided", "rate",
                                     "ci_low", "ci_high", "deff", "note"])
    v = first["n_violated"].to_numpy(float)
    d = v + first["n_complied"].to_numpy(float)
    tmp = first[keys].astype(str).assign(v=v, d=d, has=(d > 0).astype(int),
                                          side=first["constraint_side"].astype(str), pressure=first["pressure"])
    g = tmp.groupby(keys, sort=True)
    out = g.agg(constraint_side=("side", "first"), pressure=("pressure", "first"), runs=("has", "sum"),
                violated=("v", "sum"), decided=("d", "sum")).reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        p_cell = g["v"].transform("sum") / g["d"].transform("sum")  # the cell's pooled rate, per run
    tmp["r2"] = (tmp["v"] - p_cell * tmp["d"]) ** 2
    out["resid_ss"] = tmp.groupby(keys, sort=True)["r2"].sum().to_numpy()
    ci = intervals.clustered_rate(out["violated"], out["decided"], out["resid_ss"], out["runs"], conf)
    out["rate"], out["ci_low"], out["ci_high"], out["deff"] = ci["rate"], ci["ci_low"], ci["ci_high"], ci["deff"]
    out["note"] = np.where(out["decided"] <= 0, "no decided steps",
                           np.where(out["runs"] < intervals.MIN_RUNS, intervals.N_TOO_SMALL, ""))
    return out.drop(columns=["resid_ss"])


def _row(model, scen, o: Orientation, estimand, label, definition, suffix, est, lo, hi, n, note="") -> dict:
    notes = [x for x in (note, "" if not o.is_default else f"orientation: {o.source}") if x]
    return {"model_id": model, "scenario_id": scen, "estimand": estimand, "label": label, "definition": definition,
            "reference": o.reference, "factors": suffix, "estimate": est, "ci_low": lo, "ci_high": hi, "n_runs": n,
            "note": "; ".join(notes)}


def asymmetry(first: pd.DataFrame, orientation: dict[str, Orientation], conf: float = 0.95) -> pd.DataFrame:
    """Rates, pressure effects and the three oriented contrasts per model × scenario (long format)."""
    rates = condition_rates(first, conf)
    rows: list[dict] = []
    for (model, scen), grp in rates.groupby(["model_id", "scenario_id"], sort=True):
        o = orientation[scen]
        by_cond = grp.set_index("condition")
        for c, r in by_cond.iterrows():
            rows.append(_row(model, scen, o, "rate", f"violation rate of {c}", f"rate({c})", factor_suffix(c),
                             r.rate, r.ci_low, r.ci_high, int(r.runs), r.note))
        baselines = by_cond.index[~by_cond["pressure"].astype(bool)].tolist()
        pressured = by_cond[by_cond["pressure"].astype(bool)]
        sets: dict[str, dict[str, str]] = {}
        for c, r in pressured.iterrows():
            base = baseline_of(c, r.constraint_side, baselines)
            if base is None:
                rows.append(_row(model, scen, o, "pressure_effect", f"pressure effect of {c}", "", factor_suffix(c),
                                 np.nan, np.nan, np.nan, int(r.runs), "no baseline with the same constraint and "
                                 "placement/session was run"))
                continue
            role = "R" if r.constraint_side == o.reference else "O"
            sets.setdefault(factor_suffix(c), {})[role] = base
            sets[factor_suffix(c)][f"{role}->{'O' if role == 'R' else 'R'}"] = c
        for suffix, roles in sorted(sets.items()):
            names = {k: roles.get(k) for k in ROLES}
            fill = {"ref": o.reference, "other": o.other, **{k: v for k, v in names.items() if v}}
            present = [k for k in ROLES if names[k] is not None]
            est = np.array([by_cond.loc[names[k], "rate"] if names[k] else np.nan for k in ROLES])
            lo = np.array([by_cond.loc[names[k], "ci_low"] if names[k] else np.nan for k in ROLES])
            hi = np.array([by_cond.loc[names[k], "ci_high"] if names[k] else np.nan for k in ROLES])
            runs = np.array([by_cond.loc[names[k], "runs"] if names[k] else 0 for k in ROLES])
            todo = [("pressure_effect", *EFFECTS[side]) for side in ("O", "R")] + \
                   [(k, *v) for k, v in CONTRASTS.items()]
            for estimand, coef, label, definition in todo:
                coef = np.array(coef)
                used = coef != 0
                if not all(k in present for k, u in zip(ROLES, used) if u):
                    continue
                e, l_, h = intervals.mover(coef[used], est[used], lo[used], hi[used])
                note = intervals.N_TOO_SMALL if not np.isfinite([l_, h]).all() else ""
                rows.append(_row(model, scen, o, estimand, label.format(**fill), definition.format(**fill), suffix,
                                 float(e), float(l_) if not note else np.nan, float(h) if not note else np.nan,
                                 int(runs[used].sum()), note))
    return pd.DataFrame(rows, columns=COLUMNS)
