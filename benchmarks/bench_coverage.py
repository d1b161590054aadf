"""Coverage study: do the report's 95% intervals cover the truth at the paper's size?

Simulated experiments from the synthetic generator's outcome model (``synthetic.simulate_outcomes``:
a per-run random effect through a Gaussian copula, so every step keeps its known marginal
probability): one value pair in the 2×2 design, 10 runs per condition, 12 steps, 5% of steps
not applicable and 1% errored. Settings: within-run (latent) correlation 0 and 0.3 × baseline
violation rate 3% and 30%. Under pressure toward the reference side R the logit rises by 0.5 and
then 0.12 per step; under pressure away from R by 0.05 per step; baselines are flat.

For every interval the report prints, the share of simulated experiments whose interval contains
the true value:

- per-step rate (continuity-corrected Wilson) — averaged over the 4 × 12 condition-steps, and the
  worst condition-step;
- pooled condition rate (design-effect Wilson) — averaged over the 4 conditions, and the worst;
- the two pressure effects and the three oriented contrasts (MOVER);
- "has violated by step t" (1 − Kaplan–Meier) — averaged over steps, and the worst step; the truth
  is P(first violation ≤ t) of the full process (Gauss–Hermite integral over the run effect);
- the Firth logit's coefficients (t(G − 1) intervals, run-clustered SE) — each term, and the worst.

The linear-probability model's coefficients have no true value under a logistic truth and Cohen's
κ depends on a judge model that is not simulated; they are not part of the study.

Everything is vectorised over the simulated experiments except the logit, which is one small fit
per experiment. The first experiment of every setting is also run through the report's own pandas
functions (``survival.km_curves``, ``asymmetry.asymmetry``, ``rates.step_rates``) to check that the
vectorised code computes the same intervals.

    .venv/bin/python benchmarks/bench_coverage.py              # 500 experiments per setting
    .venv/bin/python benchmarks/bench_coverage.py --sets 2000 --json coverage.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from goaldrift.analysis.coverage import (
    ORIENT,
    RUNS,
    T,
    check_against_report_code,
    interval_coverage,
    logit_coverage,
    probabilities,
    simulate,
    truth_coef,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", type=int, default=500, help="simulated experiments per setting")
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    table: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    for icc in (0.0, 0.3):
        for base in (0.03, 0.30):
            coef = truth_coef(base)
            p = probabilities(coef)
            codes = simulate(args.sets, icc, p, rng)
            check_against_report_code(codes[0], ORIENT)
            res = interval_coverage(codes, p, icc)
            res.update(logit_coverage(codes, coef, ORIENT))
            key = f"icc={icc:g}, baseline={base:.0%}"
            table[key] = res
            print(f"{key}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    frame = pd.DataFrame(table)
    pd.set_option("display.width", 200)
    print(f"\nachieved coverage of nominal 95% intervals, {args.sets} simulated experiments per setting "
          f"({RUNS} runs per condition, {T} steps); target ≥ 93%")
    print((100 * frame).round(1).to_string())
    mc_se = 100 * np.sqrt(0.95 * 0.05 / args.sets)
    print(f"Monte-Carlo standard error of one coverage near 95%: ±{mc_se:.1f} points")
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"sets": args.sets, "runs_per_condition": RUNS, "steps": T, "coverage": table}, fh, indent=1)


if __name__ == "__main__":
    main()
