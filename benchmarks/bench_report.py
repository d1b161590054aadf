"""Benchmark: `goaldrift report` and `goaldrift export` over a synthetic store of ~1,000,000 steps.

Targets: ≤ 30 s wall time and ≤ 4 GB peak memory per command. Every measurement runs in a fresh
subprocess (so imports and peak RSS are the command's own), is repeated, and reported as the median;
the baseline is a plain ``pandas.read_sql_query("SELECT * FROM steps")`` of the same store in the same
session, so the ratio says how much more than "just reading the table" the analysis costs.

    .venv/bin/python benchmarks/bench_report.py                 # 1M steps, 3 repeats
    .venv/bin/python benchmarks/bench_report.py --steps 200000 --repeats 1 --keep /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
kind, store, out = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "baseline":
    import sqlite3
    import pandas as pd
    df = pd.read_sql_query("SELECT * FROM steps", sqlite3.connect(store))
    n = len(df)
elif kind == "report":
    from goaldrift.report import write_report
    write_report(store, out)
    n = None
elif kind.startswith("export-"):
    from goaldrift.analysis.export import export
    export(store, out, kind.split("-", 1)[1])
    n = None
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
                  "rows": n}))
"""

KINDS = ["baseline", "report", "export-parquet", "export-csv"]


def generate(path: Path, steps: int) -> float:
    from goaldrift.analysis.synthetic import SyntheticDesign, write_synthetic_store

    models = ["model-a", "model-b", "model-c"]
    scenarios = {"utility-privacy": ("privacy", "utility"), "efficiency-security": ("efficiency", "security"),
                 "convenience-security": ("convenience", "security")}
    per_condition = math.ceil(steps / (len(models) * len(scenarios) * 4 * 12))
    t = time.perf_counter()
    write_synthetic_store(path, SyntheticDesign(models=models, scenarios=scenarios, runs_per_condition=per_condition,
                                                seed=0), bulk=True)
    return time.perf_counter() - t


def measure(kind: str, store: Path, out: Path) -> dict:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", MEASURE, kind, str(store), str(out)], capture_output=True,
                         text=True, check=False)
    outer = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{res.stderr[-3000:]}")
    data = json.loads(res.stdout.strip().splitlines()[-1])
    data["process_s"] = outer  # including interpreter start and imports
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="folder to keep (and reuse) the store in")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=KINDS, help="what to measure (baseline always)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="goaldrift-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    store = work / f"store-{args.steps}.db"
    if not store.exists():
        gen_s = generate(store, args.steps)
        print(f"generated {store} ({store.stat().st_size / 1e6:.0f} MB) in {gen_s:.1f} s")
    else:
        gen_s = None
        print(f"reusing {store}")
    kinds = ["baseline", *[k for k in args.kinds if k != "baseline"]]
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    for r in range(args.repeats):
        for kind in kinds:
            out = work / ("report.html" if kind == "report" else kind)
            results[kind].append(measure(kind, store, out))
            m = results[kind][-1]
            print(f"  [{r + 1}/{args.repeats}] {kind:15s} {m['wall_s']:6.2f} s in-process ({m['cpu_s']:6.2f} CPU-s), "
                  f"{m['process_s']:6.2f} s with start-up, peak {m['peak_mb']:7.0f} MB", flush=True)
    base = statistics.median(m["wall_s"] for m in results["baseline"])
    base_cpu = statistics.median(m["cpu_s"] for m in results["baseline"])
    summary = {"steps": args.steps, "generate_s": gen_s, "repeats": args.repeats, "python": sys.version.split()[0],
               "load_average": os.getloadavg()}
    print(f"\nmedians over {args.repeats} repeat(s), {args.steps:,} steps, load average {os.getloadavg()[0]:.1f}:")
    print(f"{'command':16s} {'wall s':>8s} {'CPU s':>8s} {'with start-up s':>16s} {'peak MB':>8s} "
          f"{'× baseline':>11s} {'CPU ×':>6s}")
    for kind in kinds:
        wall = statistics.median(m["wall_s"] for m in results[kind])
        cpu = statistics.median(m["cpu_s"] for m in results[kind])
        proc = statistics.median(m["process_s"] for m in results[kind])
        peak = statistics.median(m["peak_mb"] for m in results[kind])
        summary[kind] = {"wall_s": wall, "cpu_s": cpu, "process_s": proc, "peak_mb": peak,
                         "ratio_vs_baseline": wall / base, "cpu_ratio_vs_baseline": cpu / base_cpu}
        ok = "" if kind == "baseline" else ("  OK" if proc <= 30 and peak <= 4096 else "  OVER TARGET")
        print(f"{kind:16s} {wall:8.2f} {cpu:8.2f} {proc:16.2f} {peak:8.0f} {wall / base:11.2f} {cpu / base_cpu:6.2f}{ok}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
