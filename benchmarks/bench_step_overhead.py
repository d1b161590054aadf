"""Harness overhead per step with an instant model: workspace snapshot + detection + store write.

Replays a built-in pack's 12 compliant reference steps straight into a workspace (the "model" costs
nothing), then times what goaldrift adds per step. The baseline, measured in the same run on the same
changes, is the least any snapshotting harness pays: one `git add -A && git commit` per step.
Also reports a whole step through the gateway with the builtin agent and the scripted model.

    python benchmarks/bench_step_overhead.py [--pack utility-privacy] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from goaldrift import packs
from goaldrift.agents.base import StepTrace
from goaldrift.conditions import Condition
from goaldrift.detect.run import build_detectors
from goaldrift.edits import apply_ops
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import Runner
from goaldrift.step_result import Scoring, score_step
from goaldrift.store import Store
from goaldrift.workspace import Workspace


def overhead(pack: str, tmp: Path) -> tuple[list[float], list[float], dict[str, list[float]]]:
    scenario = packs.load(pack)
    side = scenario.sides[0]
    scoring = Scoring(*build_detectors(scenario.spec), side)
    ws = Workspace.create(tmp / "ws", scenario, Condition(side))
    store = Store(tmp / "store.db")
    store.plan_runs("bench", [])
    attempt, _ = store.start_attempt("bench-run", str(ws.repo))
    base = tmp / "baseline"
    shutil.copytree(ws.repo, base)
    subprocess.run(["git", "init", "-q"], cwd=base, check=True)
    subprocess.run(["git", "add", "-A"], cwd=base, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "0"], cwd=base, check=True)
    ours, baseline = [], []
    parts: dict[str, list[float]] = {"snapshot+detect": [], "store": []}
    for i in range(1, len(scenario.spec.steps) + 1):
        ops = scenario.reference(i, side).ops
        apply_ops(ws.repo, ops)
        apply_ops(base, ops)
        t0 = time.perf_counter()
        record = score_step(ws, i, StepTrace(), scoring)
        t1 = time.perf_counter()
        store.write_step(attempt, record)
        t3 = time.perf_counter()
        parts["snapshot+detect"].append(t1 - t0)
        parts["store"].append(t3 - t1)
        ours.append(t3 - t0)
        b0 = time.perf_counter()
        subprocess.run(["git", "add", "-A"], cwd=base, check=True)
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", str(i)], cwd=base,
                       check=True)
        baseline.append(time.perf_counter() - b0)
    store.close()
    return ours, baseline, parts


def full_step(pack: str, tmp: Path) -> float:
    """Median wall time of a whole step: builtin agent + gateway + scripted model + the above."""
    raw = {"name": "bench", "models": [{"id": "s", "backend": "scripted"}], "scenarios": [pack],
           "conditions": [packs.load(pack).sides[0]], "agent": {"harness": "builtin"}}
    exp = experiment_from_dict(raw)
    asyncio.run(Runner(exp, tmp / "full" / "store.db", progress=False).run())
    db = Store(tmp / "full" / "store.db", readonly=True)
    durations = [r[0] for r in db.db.execute("SELECT duration_s FROM steps")]
    total = db.db.execute("SELECT MAX(created_at) - MIN(started_at) FROM steps, attempts").fetchone()[0]
    db.close()
    return statistics.median(durations), total / 12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default="utility-privacy")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ours_all, base_all = [], []
    parts_all: dict[str, list[float]] = {"snapshot+detect": [], "store": []}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            ours, base, parts = overhead(args.pack, Path(tmp))
            ours_all += ours
            base_all += base
            for k, v in parts.items():
                parts_all[k] += v
    with tempfile.TemporaryDirectory() as tmp:
        agent_median, per_step_wall = full_step(args.pack, Path(tmp))
    med = statistics.median(ours_all) * 1000
    bmed = statistics.median(base_all) * 1000
    result = {
        "pack": args.pack, "steps_measured": len(ours_all),
        "overhead_median_ms": round(med, 1), "baseline_git_commit_median_ms": round(bmed, 1),
        "ratio_vs_baseline": round(med / bmed, 2),
        "parts_median_ms": {k: round(statistics.median(v) * 1000, 2) for k, v in parts_all.items()},
        "full_step_builtin_scripted_median_ms": round(agent_median * 1000, 1),
        "full_step_wall_incl_snapshot_ms": round(per_step_wall * 1000, 1),
        "target_ms": 50,
    }
    print(f"goaldrift overhead per step (median of {len(ours_all)}): {med:.1f} ms "
          f"[snapshot+detect {result['parts_median_ms']['snapshot+detect']} ms, "
          f"store {result['parts_median_ms']['store']} ms]")
    print(f"baseline git add+commit per step: {bmed:.1f} ms  ->  ratio {med / bmed:.2f}x")
    print(f"whole step, builtin agent + gateway + scripted model: {agent_median * 1000:.1f} ms (median)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
