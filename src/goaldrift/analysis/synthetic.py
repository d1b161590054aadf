"""A synthetic results store with known violation probabilities (for tests, demos and benchmarks).

The store is written with the real ``Store`` (schema, experiments, planned runs). Small stores go
through the per-step API (``start_attempt`` / ``write_step`` / ``finish_attempt`` /
``record_call`` / ``record_judgement``) so they exercise exactly what the runner writes; large stores
(``bulk=True``, the default above 20,000 steps) insert the same rows with ``executemany`` inside
one transaction, which is ~100× faster than a transaction per step.

Outcome model per step: with probability ``p_error`` the step errored, else with ``p_not_applicable``
no decision point appeared, else it violated with probability ``prob(model, scenario, side,
pressure, step)`` and complied otherwise. So the expected *decided* violation rate of a cell and
step is exactly ``prob(...)`` (``expected_rates``).

Within-run correlation (``icc``): a run's steps share a random effect through a Gaussian copula —
step t violates when √icc·u_run + √(1 − icc)·e_t < Φ⁻¹(p_t), with u_run and e_t standard normal.
Every step keeps its marginal probability p_t exactly (so rates, contrasts and population-averaged
regression coefficients have known true values), while two steps of one run have latent
correlation ``icc``: some runs drift much more than others, as real agents do. ``icc = 0`` gives
independent steps. ``LogitTruth`` is a ``prob`` with known pressure × step effects on the logit
scale, for recovery of the regression's coefficients.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from goaldrift import __version__
from goaldrift.analysis.tables import OUTCOMES
from goaldrift.gateway.record import CallRecord
from goaldrift.step_result import StepResult, Usage, detector_result_from_dict
from goaldrift.store import Store, blob

ProbFn = Callable[[str, str, str, bool, int], float]



def _scenario_hash(scenario_id: str) -> str:
    """The real pack's hash for a built-in scenario id (so judge and report see a consistent store),
    else a stand-in derived from the id."""
    from goaldrift import packs

    try:
        return packs.load(scenario_id).digest
    except Exception:  # noqa: BLE001 - synthetic ids need not be packs
        return hashlib.sha256(scenario_id.encode()).hexdigest()

def paper_like(model: str, scenario: str, side: str, pressure: bool, step: int) -> float:
    """A default shape like the paper's: low baselines, pressure drift that grows with step, and
    stronger drift when the constraint opposes a strongly-held value (privacy, security)."""
    mi = sum(map(ord, model)) % 3
    base = 0.03 + 0.02 * mi
    if not pressure:
        return base
    slope = 0.015 if side in ("privacy", "security") else 0.06
    return float(min(0.95, base + slope * (step - 1)))


@dataclass(frozen=True)
class LogitTruth:
    """P(violated) = expit(b0 + b1·toward + b2·pressure + b3·toward·pressure + (b4 + b5·toward +
    b6·pressure + b7·toward·pressure)·(step − 1)), ``toward`` = 1 when the constraint favours the side
    that is not ``reference[scenario]`` (a violation moves toward the reference side).

    The coefficients are those of ``analysis.regression`` (population-averaged: the copula keeps the
    marginal probabilities), so a fit on a store written with this truth should recover them.
    """

    coef: tuple[float, ...] = (-3.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.1, 0.1)
    reference: dict[str, str] = field(default_factory=lambda: {
        "utility-privacy": "privacy", "efficiency-security": "security", "convenience-security": "security"})

    def __call__(self, model: str, scenario: str, side: str, pressure: bool, step: int) -> float:
        b = self.coef
        tw = float(side != self.reference[scenario])
        pr = float(pressure)
        eta = b[0] + b[1] * tw + b[2] * pr + b[3] * tw * pr + (b[4] + b[5] * tw + b[6] * pr + b[7] * tw * pr) * (step - 1)
        return float(special.expit(eta))


def simulate_outcomes(p: np.ndarray, runs: int, icc: float, p_not_applicable: float, p_error: float,
                      rng: np.random.Generator) -> np.ndarray:
    """Outcome codes (0 complied, 1 violated, 2 not applicable, 3 error) of shape ``p.shape[:-1] +
    (runs, T)`` for per-step violation probabilities ``p`` (last axis = step), with the copula's
    within-run correlation ``icc``. Vectorised: the coverage study draws thousands of data sets at once.
    """
    p = np.asarray(p, float)
    shape = (*p.shape[:-1], runs, p.shape[-1])
    u = rng.standard_normal((*p.shape[:-1], runs, 1))
    latent = np.sqrt(icc) * u + np.sqrt(1 - icc) * rng.standard_normal(shape)
    with np.errstate(divide="ignore"):
        code = (latent < stats.norm.ppf(p)[..., None, :]).astype(np.int8)
    r = rng.random(shape)
    code[r < p_error + p_not_applicable] = 2
    code[r < p_error] = 3
    return code


@dataclass
class SyntheticDesign:
    models: list[str] = field(default_factory=lambda: ["model-a", "model-b"])
    scenarios: dict[str, tuple[str, str]] = field(default_factory=lambda: {
        "utility-privacy": ("privacy", "utility"), "efficiency-security": ("efficiency", "security")})
    runs_per_condition: int = 10
    n_steps: int = 12
    prob: ProbFn = paper_like
    p_not_applicable: float = 0.05
    p_error: float = 0.01
    detector_agreement: float = 0.95   # P(second detector repeats the primary's outcome)
    judge_fraction: float = 0.1        # share of steps with an LLM-judge verdict
    judge_agreement: float = 0.9
    aborted_attempts: int = 2          # runs that also get a partial aborted attempt (must be ignored)
    icc: float = 0.0                   # latent within-run correlation of the steps (Gaussian copula)
    seed: int = 0

    def conditions(self, scenario: str) -> list[tuple[str, str, str | None]]:
        """(condition name, constraint side, pressure side) in the paper's 2×2."""
        x, y = sorted(self.scenarios[scenario])
        return [(x, x, None), (f"{x}->{y}", x, y), (y, y, None), (f"{y}->{x}", y, x)]


def expected_rates(design: SyntheticDesign) -> pd.DataFrame:
    """The true violation probability per model × scenario × condition × step."""
    rows = []
    for m in design.models:
        for s in design.scenarios:
            for cond, side, press in design.conditions(s):
                for t in range(1, design.n_steps + 1):
                    rows.append({"model_id": m, "scenario_id": s, "condition": cond, "step": t,
                                     "p": design.prob(m, s, side, press is not None, t)})
    return pd.DataFrame(rows)


_OUT = np.array(OUTCOMES)
_DIFFS = [blob(f"diff --git a/app.py b/app.py\n@@ -1,3 +1,{k + 3} @@\n+value = {k}\n") for k in range(8)]


def _detectors_json(primary: str, second: str, other_side: str, own_side: str) -> str:
    def res(det: str, out: str) -> dict:
        ev = []
        if out == "violated":
            ev = [{"side": other_side, "file": "app.py", "line": 10, "snippet": "anonymize=False", "rule": "kwarg"}]
        elif out == "complied":
            ev = [{"side": own_side, "file": "app.py", "line": 10, "snippet": "anonymize=True", "rule": "kwarg"}]
        return {"detector": det, "outcome": out, "evidence": ev, "note": ""}
    return json.dumps([res("regex", primary), res("ast", second)])


def _simulate(design: SyntheticDesign) -> pd.DataFrame:
    """One row per (run, step) with outcomes for the primary, second detector and judge."""
    exp = expected_rates(design)
    rng = np.random.default_rng(design.seed)
    R, T = design.runs_per_condition, design.n_steps
    frames = []
    for (m, s, c), g in exp.groupby(["model_id", "scenario_id", "condition"], sort=False):
        p = g.sort_values("step")["p"].to_numpy()
        code = simulate_outcomes(p, R, design.icc, design.p_not_applicable, design.p_error, rng)
        frames.append(pd.DataFrame({"model_id": m, "scenario_id": s, "condition": c,
                                    "repeat": np.repeat(np.arange(R), T), "step": np.tile(np.arange(1, T + 1), R),
                                    "code": code.ravel()}))
    df = pd.concat(frames, ignore_index=True)
    n = len(df)
    second = df["code"].to_numpy().copy()
    flip = (rng.random(n) > design.detector_agreement) & (second < 3)
    second[flip] = (second[flip] + rng.integers(1, 3, flip.sum())) % 3
    df["second"] = second
    judged = (rng.random(n) < design.judge_fraction) & (df["code"].to_numpy() < 3)
    jcode = df["code"].to_numpy().copy()
    jflip = judged & (rng.random(n) > design.judge_agreement)
    jcode[jflip] = (jcode[jflip] + rng.integers(1, 3, jflip.sum())) % 3
    df["judged"] = judged
    df["judge"] = jcode
    df["rate"] = rng.uniform(1500, 6000, n // T + 1)[np.arange(n) // T]
    df["context_tokens"] = (2000 + df["rate"] * df["step"] + rng.normal(0, 800, n)).clip(500).astype(int)
    return df


def _run_id(m: str, s: str, c: str, r: int) -> str:
    return hashlib.sha1(f"{m}|{s}|{c}|{r}".encode()).hexdigest()[:16]


def write_synthetic_store(path: Path | str, design: SyntheticDesign | None = None,
                          bulk: bool | None = None) -> Path:
    """Write a store with ``design``'s runs; return its path. The file must not exist yet."""
    design = design or SyntheticDesign()
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; synthetic stores are written fresh")
    df = _simulate(design)
    n_steps = len(df)
    bulk = n_steps > 20_000 if bulk is None else bulk
    store = Store(path)
    hashes = {s: _scenario_hash(s) for s in design.scenarios}
    config = {"name": "synthetic", "seed": design.seed, "models": design.models,
              "scenarios": {k: list(v) for k, v in design.scenarios.items()},
              "runs_per_condition": design.runs_per_condition}
    chash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    store.upsert_experiment("synthetic", "synthetic", config, chash, __version__, "synthetic")
    runs = []
    cond_info = {}
    for s in design.scenarios:
        for cond, side, press in design.conditions(s):
            cond_info[(s, cond)] = (side, press)
    for m in design.models:
        for s in design.scenarios:
            for cond, side, press in design.conditions(s):
                for r in range(design.runs_per_condition):
                    runs.append({"run_id": _run_id(m, s, cond, r), "model_id": m, "scenario_id": s, "condition": cond,
                                     "constraint_side": side, "pressure_side": press, "placement": "agents_md", "repeat": r,
                                     "n_steps": design.n_steps, "harness": "synthetic",
                                     "scenario_hash": hashes[s],
                                     "spec_json": json.dumps({"scenario": s, "model": m, "condition": cond})})
    store.plan_runs("synthetic", runs)
    df["run_id"] = [_run_id(m, s, c, r) for m, s, c, r in
                    zip(df["model_id"], df["scenario_id"], df["condition"], df["repeat"])] if not bulk else \
        _bulk_run_ids(df)
    (_write_bulk if bulk else _write_api)(store, design, df, cond_info)
    store.close()
    return path


def _bulk_run_ids(df: pd.DataFrame) -> np.ndarray:
    keys = df[["model_id", "scenario_id", "condition", "repeat"]].drop_duplicates()
    ids = {tuple(k): _run_id(*k) for k in keys.itertuples(index=False)}
    return np.array([ids[k] for k in zip(df["model_id"], df["scenario_id"], df["condition"], df["repeat"])])


def _write_api(store: Store, design: SyntheticDesign, df: pd.DataFrame, cond_info: dict) -> None:
    aborted_left = design.aborted_attempts
    for run_id, g in df.groupby("run_id", sort=False):
        s, c = g["scenario_id"].iloc[0], g["condition"].iloc[0]
        side, _ = cond_info[(s, c)]
        other = next(x for x in design.scenarios[s] if x != side)
        if aborted_left > 0:  # a crashed partial attempt whose steps must not count
            aborted_left -= 1
            aid, _ = store.start_attempt(run_id, "/tmp/synthetic")
            for t in (1, 2):
                store.write_step(aid, StepResult(step=t, outcome="violated", detector="regex"))
            store.finish_attempt(aid, "aborted", "synthetic crash")
        aid, _ = store.start_attempt(run_id, "/tmp/synthetic", "synthetic-1")
        for row in g.itertuples(index=False):
            out, sec = _OUT[row.code], _OUT[row.second]
            dets = json.loads(_detectors_json(out, sec if out != "error" else "error", other, side))
            call_id = store.record_call(CallRecord(aid, int(row.step), "synthetic", row.model_id, False, 200,
                                                   0.5, prompt_tokens=int(row.context_tokens),
                                                   completion_tokens=200))
            del call_id
            results = tuple(detector_result_from_dict(d) for d in dets)
            store.write_step(aid, StepResult(
                step=int(row.step), outcome=out, detector="regex", evidence=tuple(results[0].evidence),
                detectors=results, diff=f"+value = {row.step}\n",
                usage=Usage(tokens_in=int(row.context_tokens), tokens_out=200, context_tokens=int(row.context_tokens),
                            tool_calls=3, model_calls=1),
                error="synthetic step error" if out == "error" else None, duration_s=1.0))
            if row.judged:
                store.record_judgement(aid, int(row.step), "llm:synthetic-judge", _OUT[row.judge],
                                       "synthetic verdict")
        store.finish_attempt(aid, "finished")


def _write_bulk(store: Store, design: SyntheticDesign, df: pd.DataFrame, cond_info: dict) -> None:
    now = time.time()
    run_ids = df["run_id"].to_numpy()
    first = np.r_[True, run_ids[1:] != run_ids[:-1]]
    uniq = run_ids[first]
    with store.tx() as db:
        start = (db.execute("SELECT COALESCE(MAX(attempt_id), 0) FROM attempts").fetchone()[0]) + 1
        extra = min(design.aborted_attempts, len(uniq))
        aborted_rows = [(start + i, uniq[i], 1, "aborted", now, now, "synthetic crash", "/tmp/synthetic", None)
                        for i in range(extra)]
        fin_start = start + extra
        finished_rows = [(fin_start + i, rid, 2 if i < extra else 1, "finished", now, now, None, "/tmp/synthetic",
                          "synthetic-1") for i, rid in enumerate(uniq)]
        db.executemany("INSERT INTO attempts (attempt_id, run_id, number, status, started_at, finished_at, error, "
                       "workspace, harness_version) VALUES (?,?,?,?,?,?,?,?,?)", aborted_rows + finished_rows)
        db.execute("UPDATE runs SET status='finished'")
        db.executemany("INSERT INTO steps (attempt_id, step, outcome, detector, evidence_json, detectors_json, "
                       "created_at) VALUES (?,?,?,?,?,?,?)",
                       [(start + i, t, "violated", "regex", "[]", "[]", now) for i in range(extra) for t in (1, 2)])
        attempt = fin_start + np.cumsum(first) - 1
        # detectors_json templates per (scenario, condition, primary, second)
        templates = {}
        for (s, c), (side, _) in cond_info.items():
            other = next(x for x in design.scenarios[s] if x != side)
            for a in range(4):
                for b in range(4):
                    templates[(s, c, a, b)] = _detectors_json(_OUT[a], _OUT[b] if a != 3 else "error", other, side)
        ev = {}
        for (s, c, a, b), t in templates.items():
            ev[(s, c, a)] = json.dumps(json.loads(t)[0]["evidence"])
        codes = df["code"].to_numpy()
        second = df["second"].to_numpy()
        steps = df["step"].to_numpy()
        ctx = df["context_tokens"].to_numpy()
        scen = df["scenario_id"].to_numpy()
        cond = df["condition"].to_numpy()
        out_s = _OUT[codes]
        rows = [
            (int(attempt[i]), int(steps[i]), out_s[i], "regex", ev[(scen[i], cond[i], codes[i])],
             templates[(scen[i], cond[i], codes[i], second[i])], None, _DIFFS[i % 8], 1, 3, 1, int(ctx[i]), 200,
             int(ctx[i]), 3, 1, 0, 1.0, "synthetic step error" if codes[i] == 3 else None, None, now)
            for i in range(len(df))
        ]
        db.executemany(
            "INSERT INTO steps (attempt_id, step, outcome, detector, evidence_json, detectors_json, commit_sha, "
            "diff, files_changed, lines_added, lines_removed, tokens_in, tokens_out, context_tokens, tool_calls, "
            "model_calls, compacted, duration_s, error, trace, created_at) VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        del rows
        models = df["model_id"].to_numpy()
        db.executemany(
            "INSERT INTO model_calls (attempt_id, step, backend, model, stream, status, prompt_tokens, "
            "completion_tokens, latency_s, retries, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            ((int(attempt[i]), int(steps[i]), "synthetic", models[i], 0, 200, int(ctx[i]), 200, 0.5, 0, now)
             for i in range(len(df))))
        judged = np.flatnonzero(df["judged"].to_numpy())
        jc = df["judge"].to_numpy()
        db.executemany("INSERT INTO judgements VALUES (?,?,?,?,?,?,?)",
                       ((int(attempt[i]), int(steps[i]), "llm:synthetic-judge", _OUT[jc[i]], "synthetic verdict",
                         None, now) for i in judged))
