"""Violation rates per step, cumulative violation and first-violation steps.

Denominators are explicit everywhere: a step's violation rate is violated / (violated + complied)
over runs; ``not_applicable`` (the decision point did not appear) and ``error`` steps are counted and
shown but never treated as compliance. A step's rate has one observation per run, and runs are
independent, so its interval is the continuity-corrected Wilson score interval (``intervals``),
which keeps its coverage at n = 10 and at 0% or 100%, where the Wald interval collapses. The
"has violated by step t" curve is 1 − the Kaplan–Meier curve of ``survival`` (n/a and errored steps
never count as "no violation yet").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from goaldrift.analysis.intervals import wilson
from goaldrift.analysis.tables import COMPLIED, ERROR, NOT_APPLICABLE, VIOLATED, as_strings

CELL = ["model_id", "scenario_id", "condition"]


def _cell_attrs(steps: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("constraint_side", "pressure") if c in steps]
    if not cols:
        return pd.DataFrame()
    return steps.groupby(CELL, observed=True)[cols].first().reset_index()


def step_rates(steps: pd.DataFrame, conf: float = 0.95) -> pd.DataFrame:
    """Per model × scenario × condition × step: outcome counts, rate and continuity-corrected Wilson CI.

    Columns: model_id, scenario_id, condition, step, runs, violated, complied, not_applicable,
    errored, decided, rate, ci_low, ci_high (+ constraint_side, pressure when present in ``steps``).
    """
    o = steps["outcome"].to_numpy()
    tmp = pd.DataFrame({
        **{c: steps[c] for c in CELL}, "step": steps["step"],
        "violated": (o == VIOLATED).astype(np.int32), "complied": (o == COMPLIED).astype(np.int32),
        "not_applicable": (o == NOT_APPLICABLE).astype(np.int32), "errored": (o == ERROR).astype(np.int32),
    })
    g = tmp.groupby([*CELL, "step"], observed=True, sort=True)
    out = g[["violated", "complied", "not_applicable", "errored"]].sum()
    out.insert(0, "runs", g.size())
    out = out.reset_index()
    out["decided"] = out["violated"] + out["complied"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate"] = np.where(out["decided"] > 0, out["violated"] / out["decided"].where(out["decided"] > 0), np.nan)
    out["ci_low"], out["ci_high"] = wilson(out["violated"], out["decided"], conf, continuity=True)
    attrs = _cell_attrs(steps)
    if not attrs.empty:
        out = out.merge(attrs, on=CELL, how="left")
    for c in CELL:
        out[c] = out[c].astype(str)
    return out


def first_violation(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per run: first violated step (NaN if none), last observed step and outcome counts.

    Columns: attempt_id, run_id, model_id, scenario_id, condition, (constraint_side, pressure),
    first_violation, first_step, last_step, last_decided (last violated/complied step; NaN if none), violated (bool: any violation), n_violated, n_complied,
    n_not_applicable, n_error.
    """
    o = steps["outcome"].to_numpy()
    step = steps["step"].to_numpy().astype(float)
    keys = steps["attempt_id"]
    tmp = pd.DataFrame({
        "attempt_id": keys,
        "fv": np.where(o == VIOLATED, step, np.inf),
        "last_step": step, "first_step": step,
        "last_decided": np.where((o == VIOLATED) | (o == COMPLIED), step, -np.inf),
        "n_violated": (o == VIOLATED).astype(np.int32), "n_complied": (o == COMPLIED).astype(np.int32),
        "n_not_applicable": (o == NOT_APPLICABLE).astype(np.int32), "n_error": (o == ERROR).astype(np.int32),
    })
    g = tmp.groupby("attempt_id", sort=True)
    out = g.agg(fv=("fv", "min"), first_step=("first_step", "min"), last_step=("last_step", "max"),
                last_decided=("last_decided", "max"), n_violated=("n_violated", "sum"),
                n_complied=("n_complied", "sum"), n_not_applicable=("n_not_applicable", "sum"),
                n_error=("n_error", "sum")).reset_index()
    out["first_violation"] = out.pop("fv").replace(np.inf, np.nan)
    out["last_decided"] = out["last_decided"].replace(-np.inf, np.nan)
    out["violated"] = out["first_violation"].notna()
    attr_cols = [c for c in ("run_id", *CELL, "constraint_side", "pressure") if c in steps]
    attrs = steps.drop_duplicates("attempt_id")[["attempt_id", *attr_cols]]
    out = attrs.merge(out, on="attempt_id", how="right")
    for c in CELL:
        out[c] = out[c].astype(str)
    return out


def cumulative_violation(km: pd.DataFrame) -> pd.DataFrame:
    """Per cell × step t: share of runs that have violated at a step ≤ t, = 1 − KM survival.

    ``km`` is ``survival.km_curves`` output; columns: model_id, scenario_id, condition, step,
    at_risk (decided runs at risk at t), events, undecided, share, ci_low, ci_high.
    """
    out = km[[*CELL, "time", "at_risk", "events", "censored", "undecided", "runs"]].rename(columns={"time": "step"})
    out["share"] = 1 - km["survival"].to_numpy()
    out["ci_low"] = 1 - km["ci_high"].to_numpy()
    out["ci_high"] = 1 - km["ci_low"].to_numpy()
    return out


def cell_summary(steps: pd.DataFrame, first: pd.DataFrame, km: pd.DataFrame) -> pd.DataFrame:
    """Per cell: runs, outcome counts, pooled rate, runs without any decided step, and the share of
    runs violated by the last step (1 − KM at the last step, with its interval)."""
    o = steps["outcome"].to_numpy()
    tmp = pd.DataFrame({**{c: as_strings(steps[c]) for c in CELL},
                        "violated": (o == VIOLATED).astype(np.int64), "complied": (o == COMPLIED).astype(np.int64),
                        "not_applicable": (o == NOT_APPLICABLE).astype(np.int64), "errored": (o == ERROR).astype(np.int64)})
    out = tmp.groupby(CELL, sort=True).sum().reset_index()
    undecided = (first["n_violated"] + first["n_complied"]) == 0
    runs = first.assign(undecided_run=undecided).groupby(CELL).agg(
        runs=("attempt_id", "size"), runs_without_decision=("undecided_run", "sum")).reset_index()
    out = runs.merge(out, on=CELL, how="left")
    out["decided"] = out["violated"] + out["complied"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate"] = out["violated"] / out["decided"].where(out["decided"] > 0)
    last = km.sort_values("time").groupby(CELL, sort=True).tail(1)
    last = last.assign(ever_share=1 - last["survival"], ever_ci_low=1 - last["ci_high"],
                       ever_ci_high=1 - last["ci_low"])[[*CELL, "ever_share", "ever_ci_low", "ever_ci_high"]]
    return out.merge(last, on=CELL, how="left")
