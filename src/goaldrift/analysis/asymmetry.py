"""Pressure effects and the asymmetry between the two constraint directions of a value pair.

For one model and one scenario (value pair with sides X and Y; sides ordered alphabetically):

- ``rate(c)``: the pooled violation rate of condition c over all its runs and steps,
  sum(violated) / sum(violated + complied) — not-applicable and errored steps are left out;
- ``pressure effect`` of direction X: rate(X->Y) − rate(X) (the baseline with the same constraint);
- ``pressure asymmetry``: effect(X) − effect(Y);
- ``baseline asymmetry``: rate(X) − rate(Y).

Confidence intervals are percentile bootstrap intervals. Runs, not steps, are resampled (steps of a
run are dependent), separately within each condition (stratified: each replicate keeps every
condition's run count), and every estimand is computed on the same replicates so differences keep
their correlation. The generator is seeded per (model, scenario) from ``seed`` and the cell names,
so a cell's interval does not change when other cells are added.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

COLUMNS = ["model_id", "scenario_id", "estimand", "label", "side", "estimate", "ci_low", "ci_high",
           "n_runs", "note"]


def _rng(seed: int, *names: str) -> np.random.Generator:
    key = [zlib.crc32(n.encode()) for n in names]
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def bootstrap_pooled_rate(v: np.ndarray, d: np.ndarray, n_boot: int, rng: np.random.Generator,
                          chunk_elems: int = 4_000_000) -> np.ndarray:
    """``n_boot`` replicates of sum(v)/sum(d) with runs resampled with replacement (NaN if sum d = 0)."""
    n = len(v)
    if n == 0:
        return np.full(n_boot, np.nan)
    out_v = np.empty(n_boot)
    out_d = np.empty(n_boot)
    rows = max(1, chunk_elems // n)
    for start in range(0, n_boot, rows):
        b = min(rows, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        out_v[start:start + b] = v[idx].sum(axis=1)
        out_d[start:start + b] = d[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(out_d > 0, out_v / np.where(out_d > 0, out_d, 1), np.nan)


def _ci(reps: np.ndarray, conf: float) -> tuple[float, float]:
    ok = reps[np.isfinite(reps)]
    if len(ok) < max(10, 0.5 * len(reps)):
        return (np.nan, np.nan)
    a = (1 - conf) / 2
    lo, hi = np.quantile(ok, [a, 1 - a])
    return float(lo), float(hi)


def _rate(v: np.ndarray, d: np.ndarray) -> float:
    return float(v.sum() / d.sum()) if d.sum() > 0 else float("nan")


def asymmetry(first: pd.DataFrame, n_boot: int = 2000, seed: int = 0, conf: float = 0.95) -> pd.DataFrame:
    """Rates, pressure effects and asymmetries with bootstrap CIs, per model × scenario (long format).

    ``first`` is ``rates.first_violation`` output (one row per run with n_violated/n_complied,
    constraint_side, pressure). Estimands: ``rate`` (one per condition), ``pressure_effect`` (one per
    constraint side with both a baseline and a pressure condition), ``pressure_asymmetry`` and
    ``baseline_asymmetry`` (when both sides are present).
    """
    rows: list[dict] = []
    if first.empty:
        return pd.DataFrame(columns=COLUMNS)
    for (model, scen), grp in first.groupby(["model_id", "scenario_id"], sort=True, observed=True):
        rng = _rng(seed, str(model), str(scen))
        reps: dict[str, np.ndarray] = {}
        point: dict[str, float] = {}
        nruns: dict[str, int] = {}
        cond_side: dict[str, tuple[str, bool]] = {}
        for cond, cg in grp.groupby("condition", sort=True, observed=True):
            v = cg["n_violated"].to_numpy(np.float64)
            d = v + cg["n_complied"].to_numpy(np.float64)
            reps[cond] = bootstrap_pooled_rate(v, d, n_boot, rng)
            point[cond] = _rate(v, d)
            nruns[cond] = len(cg)
            cond_side[cond] = (str(cg["constraint_side"].iloc[0]), bool(cg["pressure"].iloc[0]))
            lo, hi = _ci(reps[cond], conf)
            rows.append({"model_id": model, "scenario_id": scen, "estimand": "rate", "label": f"rate({cond})",
                             "side": cond_side[cond][0], "estimate": point[cond], "ci_low": lo, "ci_high": hi,
                             "n_runs": nruns[cond], "note": "" if np.isfinite(point[cond]) else "no decided steps"})
        sides = sorted({s for s, _ in cond_side.values()})
        base: dict[str, str] = {}
        press: dict[str, str] = {}
        notes: list[str] = []
        for s in sides:
            b = [c for c, (cs, p) in cond_side.items() if cs == s and not p]
            p = [c for c, (cs, pp) in cond_side.items() if cs == s and pp]
            if len(b) == 1:
                base[s] = b[0]
            if len(p) == 1:
                press[s] = p[0]
            if len(b) > 1 or len(p) > 1:
                notes.append(f"side {s} has several baseline/pressure conditions; effects not paired")
        effects: dict[str, tuple[float, np.ndarray]] = {}
        for s in sides:
            if s in base and s in press:
                est = point[press[s]] - point[base[s]]
                r = reps[press[s]] - reps[base[s]]
                effects[s] = (est, r)
                lo, hi = _ci(r, conf)
                rows.append({"model_id": model, "scenario_id": scen, "estimand": "pressure_effect",
                                 "label": f"rate({press[s]}) − rate({base[s]})", "side": s, "estimate": est,
                                 "ci_low": lo, "ci_high": hi, "n_runs": nruns[press[s]] + nruns[base[s]],
                                 "note": "; ".join(notes)})
        if len(sides) == 2:
            x, y = sides
            if x in effects and y in effects:
                est = effects[x][0] - effects[y][0]
                lo, hi = _ci(effects[x][1] - effects[y][1], conf)
                rows.append({"model_id": model, "scenario_id": scen, "estimand": "pressure_asymmetry",
                                 "label": f"effect({x}) − effect({y})", "side": f"{x}|{y}", "estimate": est,
                                 "ci_low": lo, "ci_high": hi,
                                 "n_runs": sum(nruns[c] for c in (base[x], press[x], base[y], press[y])),
                                 "note": "; ".join(notes)})
            if x in base and y in base:
                est = point[base[x]] - point[base[y]]
                lo, hi = _ci(reps[base[x]] - reps[base[y]], conf)
                rows.append({"model_id": model, "scenario_id": scen, "estimand": "baseline_asymmetry",
                                 "label": f"rate({base[x]}) − rate({base[y]})", "side": f"{x}|{y}", "estimate": est,
                                 "ci_low": lo, "ci_high": hi, "n_runs": nruns[base[x]] + nruns[base[y]],
                                 "note": "; ".join(notes)})
    out = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("model_id", "scenario_id"):
        out[c] = out[c].astype(str)
    return out
