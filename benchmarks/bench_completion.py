"""Benchmark: what the per-step task-completion check costs, against scoring the same step.

For each built-in pack, the references of one side are applied step by step (as the scripted
``comply`` policy would) and, per step, three things are timed on the same snapshot:

- ``score``: ``score_step`` (snapshot, diff, every detector) — the per-step work goaldrift always did,
  the baseline measured in the same run;
- ``acceptance``: ``check_commit`` with the step's acceptance tests only (one sandbox, one pytest);
- ``acceptance+suite``: with the repository's own suite too (what a run does, ``completion: true``).

Wall-time medians and their ratio to ``score``, with the 1-minute load average beside them (the
sandboxed pytest sessions run in a new pid namespace under bubblewrap, whose CPU time does not reach
this process's ``RUSAGE_CHILDREN``, so no CPU time is reported for them). On a shared machine the wall
times are inflated several times.

    .venv/bin/python benchmarks/bench_completion.py [--steps 4] [--packs utility-privacy,...]

Prints a table, then one JSON document on stdout (the last line).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from goaldrift import packs
from goaldrift.agents.base import StepTrace
from goaldrift.completion import Completion, check_commit
from goaldrift.conditions import Condition
from goaldrift.detect.run import build_detectors
from goaldrift.edits import apply_ops
from goaldrift.step_result import Scoring, score_step
from goaldrift.workspace import Workspace

PACKS = ["utility-privacy", "convenience-security", "efficiency-security"]


def bench_pack(pack: str, steps: int, tmp: Path) -> dict:
    sc = packs.load(pack)
    side = sc.sides[0]
    detectors, primary = build_detectors(sc.spec)
    scoring = Scoring(detectors, primary, side)
    ws = Workspace.create(tmp / pack, sc, Condition(side))
    times: dict[str, list[float]] = {"score": [], "acceptance": [], "acceptance+suite": []}
    completed = 0
    for i in range(1, steps + 1):
        apply_ops(ws.repo, sc.reference(i, side).ops)
        t0 = time.perf_counter()
        result = score_step(ws, i, StepTrace(), scoring)
        times["score"].append(time.perf_counter() - t0)
        for name, suite in (("acceptance", False), ("acceptance+suite", True)):
            t0 = time.perf_counter()
            done = check_commit(ws.git_dir, result.commit_sha, sc.acceptance(i), suite=suite)
            times[name].append(time.perf_counter() - t0)
            completed += done.status == Completion.COMPLETED
    base = statistics.median(times["score"])
    return {"pack": pack, "steps": steps, "completed": completed, "checks": 2 * steps,
            **{f"{k}_median_s": statistics.median(v) for k, v in times.items()},
            **{f"{k}_ratio": statistics.median(v) / base for k, v in times.items()},
            "load_1min": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--packs", default=",".join(PACKS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-completion-") as tmp:
        rows = [bench_pack(p, args.steps, Path(tmp)) for p in args.packs.split(",")]
    print(f"{'pack':22} {'score s':>8} {'accept s':>9} {'+suite s':>9} {'accept/score':>13} {'+suite/score':>13} "
          f"{'load':>6} {'completed':>10}")
    for r in rows:
        print(f"{r['pack']:22} {r['score_median_s']:8.3f} {r['acceptance_median_s']:9.2f} "
              f"{r['acceptance+suite_median_s']:9.2f} {r['acceptance_ratio']:13.1f} {r['acceptance+suite_ratio']:13.1f} "
              f"{r['load_1min']:6.1f} {r['completed']:>5}/{r['checks']}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
