"""Concurrent runs on one machine: speed-up of N runs at once over one, with a slow model.

The scripted model answers every call after a fixed latency (``params: {latency_s: 2}``), like a
remote API; the builtin agent runs a few steps of a built-in pack. For each N the same experiment
with N repeats runs at ``concurrency: N`` in a fresh store, and

    speed-up(N) = N · T(1) / T(N)

where T is the wall time of the whole runner (gateway start to last stored step), T(1) measured in
the same invocation with the same executor. ``--executor ray`` (or ``both``) runs the same through a
Ray cluster started on this machine for the benchmark (``ray.init(num_cpus=2)``, started once, before
the first timing): there T includes starting the host actor and its gateway, every step streamed back
to the driver's store writer. Waiting on the model costs no CPU, so the ideal is N; what is lost is goaldrift's
own work per step (workspace, snapshot, detectors, store) competing for the cores. The issue's target
is ≥ 0.8 · N up to N = 16. The load average before and after is printed: the machine may be shared.

    python benchmarks/bench_concurrency.py [--latency 2] [--steps 2] [--n 1,2,4,8,16,32]
                                           [--executor local|ray|both] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from goaldrift import packs
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import Runner


def one(pack: str, n: int, latency: float, steps: int, tmp: Path, executor: str) -> dict:
    raw = {"name": f"bench-j{n}", "scenarios": [pack], "conditions": [packs.load(pack).sides[0]],
           "models": [{"id": "slow", "backend": "scripted", "params": {"latency_s": latency}}],
           "repeats": n, "steps": steps, "concurrency": n, "agent": {"harness": "builtin"}}
    store = tmp / executor / f"j{n}" / "store.db"
    started = time.perf_counter()
    summary = asyncio.run(Runner(experiment_from_dict(raw), store, progress=False, executor=executor).run())
    wall = time.perf_counter() - started
    if not summary.complete:
        raise SystemExit(f"N={n}: not every run finished: {summary.errors[:3]}")
    db = sqlite3.connect(store)
    calls = db.execute("SELECT COUNT(*) FROM model_calls").fetchone()[0]
    db.close()
    return {"executor": executor, "n": n, "wall_s": round(wall, 2), "steps": summary.steps, "model_calls": calls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default="utility-privacy")
    ap.add_argument("--latency", type=float, default=2.0, help="seconds per model call")
    ap.add_argument("--steps", type=int, default=2, help="steps per run")
    ap.add_argument("--n", default="1,2,4,8,16,32", help="concurrent runs to measure (1 is the baseline)")
    ap.add_argument("--executor", choices=["local", "ray", "both"], default="both")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ns = sorted({1, *(int(x) for x in args.n.split(","))})
    executors = ["local", "ray"] if args.executor == "both" else [args.executor]
    if "ray" in executors:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # one cluster for every N
    load_before = os.getloadavg()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for executor in executors:
            for n in ns:
                rows.append(one(args.pack, n, args.latency, args.steps, Path(tmp), executor))
    load_after = os.getloadavg()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    if "ray" in executors:
        ray.shutdown()
    for r in rows:
        base = next(b["wall_s"] for b in rows if b["executor"] == r["executor"] and b["n"] == 1)
        r["speedup"] = round(r["n"] * base / r["wall_s"], 2)
        r["efficiency"] = round(r["speedup"] / r["n"], 2)
    result = {"latency_s": args.latency, "steps_per_run": args.steps, "cpus": os.cpu_count(),
              "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
              "driver_cpu_s": round(cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime
                                    - cpu_before.ru_stime, 1), "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"scripted model {args.latency:g} s/call, builtin agent, {args.steps} steps/run, {os.cpu_count()} cpus, "
          f"load average before {load_before[0]:.2f} after {load_after[0]:.2f}, "
          f"driver CPU {result['driver_cpu_s']} s")
    print(f"{'executor':>8} {'N':>4} {'wall s':>8} {'calls':>6} {'speed-up':>9} {'× N':>6}")
    for r in rows:
        print(f"{r['executor']:>8} {r['n']:>4} {r['wall_s']:>8.2f} {r['model_calls']:>6} {r['speedup']:>9.2f} "
              f"{r['efficiency']:>6.2f}")


if __name__ == "__main__":
    main()
