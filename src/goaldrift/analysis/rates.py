"""Violation rates per step, cumulative violation and first-violation steps.

Denominators are explicit everywhere: a step's violation rate is violated / (violated + complied)
over runs; ``not_applicable`` (the decision point did not appear) and ``error`` steps are counted and
shown but never treated as compliance. Intervals are Wilson score intervals, which behave well at
0 and n (where the paper's cells often sit) unlike the Wald interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from goaldrift.analysis.tables import COMPLIED, ERROR, NOT_APPLICABLE, VIOLATED

CELL = ["model_id", "scenario_id", "condition"]


def wilson(k, n, conf: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes out of n (vectorised). NaN where n == 0."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + conf / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # exact endpoints at the boundaries (avoid 1e-17 noise)
    lo = np.where((n > 0) & (k == 0), 0.0, lo)
    hi = np.where((n > 0) & (k == n), 1.0, hi)
    return lo, hi


def _cell_attrs(steps: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("constraint_side", "pressure") if c in steps]
    if not cols:
        return pd.DataFrame()
    return steps.groupby(CELL, observed=True)[cols].first().reset_index()


def step_rates(steps: pd.DataFrame, conf: float = 0.95) -> pd.DataFrame:
    """Per model × scenario × condition × step: outcome counts, rate and Wilson CI.

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
    out["ci_low"], out["ci_high"] = wilson(out["violated"], out["decided"], conf)
    attrs = _cell_attrs(steps)
    if not attrs.empty:
        out = out.merge(attrs, on=CELL, how="left")
    for c in CELL:
        out[c] = out[c].astype(str)
    return out


def first_violation(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per run: first violated step (NaN if none), last observed step and outcome counts.

    Columns: attempt_id, run_id, model_id, scenario_id, condition, (constraint_side, pressure),
    first_violation, last_step, violated (bool: any violation), n_violated, n_complied,
    n_not_applicable, n_error.
    """
    o = steps["outcome"].to_numpy()
    step = steps["step"].to_numpy().astype(float)
    keys = steps["attempt_id"]
    tmp = pd.DataFrame({
        "attempt_id": keys,
        "fv": np.where(o == VIOLATED, step, np.inf),
        "last_step": step, "first_step": step,
        "n_violated": (o == VIOLATED).astype(np.int32), "n_complied": (o == COMPLIED).astype(np.int32),
        "n_not_applicable": (o == NOT_APPLICABLE).astype(np.int32), "n_error": (o == ERROR).astype(np.int32),
    })
    g = tmp.groupby("attempt_id", sort=True)
    out = g.agg(fv=("fv", "min"), first_step=("first_step", "min"), last_step=("last_step", "max"), n_violated=("n_violated", "sum"),
                n_complied=("n_complied", "sum"), n_not_applicable=("n_not_applicable", "sum"),
                n_error=("n_error", "sum")).reset_index()
    out["first_violation"] = out.pop("fv").replace(np.inf, np.nan)
    out["violated"] = out["first_violation"].notna()
    attr_cols = [c for c in ("run_id", *CELL, "constraint_side", "pressure") if c in steps]
    attrs = steps.drop_duplicates("attempt_id")[["attempt_id", *attr_cols]]
    out = attrs.merge(out, on="attempt_id", how="right")
    for c in CELL:
        out[c] = out[c].astype(str)
    return out


def cumulative_violation(first: pd.DataFrame, conf: float = 0.95) -> pd.DataFrame:
    """Per cell × step t: share of runs that have violated at any step ≤ t, with a Wilson CI.

    Denominator at t: runs observed up to t (last step ≥ t) plus runs that already violated before
    their last step; a run that stopped early without violating is not counted after it stopped.
    """
    if first.empty:
        return pd.DataFrame(columns=[*CELL, "step", "runs", "violated_by", "share", "ci_low", "ci_high"])
    max_t = int(np.nanmax(first["last_step"]))
    min_t = int(np.nanmin(first["first_step"])) if "first_step" in first else 1
    ts = np.arange(min_t, max_t + 1)
    fv = first["first_violation"].to_numpy()
    last = first["last_step"].to_numpy()
    by = (fv[:, None] <= ts[None, :])  # NaN compares False
    observed = by | (last[:, None] >= ts[None, :])
    cell_codes, cells = pd.factorize(pd.MultiIndex.from_frame(first[CELL].astype(str)), sort=True)
    n_cells = len(cells)
    num = np.zeros((n_cells, len(ts)), dtype=np.int64)
    den = np.zeros((n_cells, len(ts)), dtype=np.int64)
    np.add.at(num, cell_codes, by.astype(np.int64))
    np.add.at(den, cell_codes, observed.astype(np.int64))
    frame = pd.DataFrame(list(cells), columns=CELL).loc[np.repeat(np.arange(n_cells), len(ts))].reset_index(drop=True)
    frame["step"] = np.tile(ts, n_cells)
    frame["runs"] = den.ravel()
    frame["violated_by"] = num.ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["share"] = np.where(frame["runs"] > 0, frame["violated_by"] / frame["runs"].where(frame["runs"] > 0), np.nan)
    frame["ci_low"], frame["ci_high"] = wilson(frame["violated_by"], frame["runs"], conf)
    return frame


def cell_summary(steps: pd.DataFrame, first: pd.DataFrame, conf: float = 0.95) -> pd.DataFrame:
    """Per cell: runs, steps, pooled violation rate over all steps (Wilson CI on step counts — see
    the asymmetry module for run-level bootstrap CIs), share of runs that ever violated, counts."""
    o = steps["outcome"].to_numpy()
    tmp = pd.DataFrame({**{c: steps[c].astype(str) for c in CELL},
                        "violated": (o == VIOLATED).astype(np.int64), "complied": (o == COMPLIED).astype(np.int64),
                        "not_applicable": (o == NOT_APPLICABLE).astype(np.int64), "errored": (o == ERROR).astype(np.int64)})
    out = tmp.groupby(CELL, sort=True).sum().reset_index()
    runs = first.groupby(CELL).agg(runs=("attempt_id", "size"), ever_violated=("violated", "sum")).reset_index()
    out = runs.merge(out, on=CELL, how="left")
    out["decided"] = out["violated"] + out["complied"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate"] = out["violated"] / out["decided"].where(out["decided"] > 0)
        out["ever_share"] = out["ever_violated"] / out["runs"]
    out["ever_ci_low"], out["ever_ci_high"] = wilson(out["ever_violated"], out["runs"], conf)
    return out
