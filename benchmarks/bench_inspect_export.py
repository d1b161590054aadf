"""Benchmark: `goaldrift export --format inspect` of a synthetic store of ~100,000 steps.

Target: under 60 s. Each measurement runs in a fresh process (imports included, since inspect_ai's
are a large part of a short export), repeated, medians reported. Baseline in the same run: the
Parquet export of the same store (`goaldrift export --format parquet`), so the ratio says what
writing Inspect's richer logs costs over goaldrift's tidy tables.

The synthetic store (as in bench_report.py) has outcomes, evidence, every detector's result, judge
verdicts and one model call per step, but no transcripts (no recorded request bodies or traces);
a real store's export also rebuilds each run's conversation, see docs/viewer.md for that number.

    .venv/bin/python benchmarks/bench_inspect_export.py                      # 100k steps, 3 repeats
    .venv/bin/python benchmarks/bench_inspect_export.py --store PATH --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import generate


def measure(fmt: str, store: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one export process."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "goaldrift", "export", "--store", str(store), "--format", fmt,
                          "--out", str(out)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"export --format {fmt} failed:\n{res.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--store", type=Path, default=None, help="an existing store instead of a new synthetic one")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="goaldrift-bench-inspect-"))
    store = args.store
    if store is None:
        store = work / "store.db"
        print(f"generating {args.steps:,} steps in {store} ({generate(store, args.steps):.0f} s)")
    n_steps = sqlite3.connect(f"file:{store}?mode=ro", uri=True).execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    times: dict[str, list[tuple[float, float]]] = {"parquet": [], "inspect": []}
    for r in range(args.repeats):
        for fmt, runs in times.items():
            runs.append(measure(fmt, store, work / f"out-{fmt}"))
        print(f"  [{r + 1}/{args.repeats}] " + ", ".join(f"{k} {v[-1][0]:.2f} s wall / {v[-1][1]:.2f} s CPU"
                                                          for k, v in times.items()), flush=True)
    logs = list((work / "out-inspect").glob("*.eval"))
    size = sum(p.stat().st_size for p in logs)
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    print(f"\nmedians over {args.repeats} repeat(s), {n_steps:,} steps -> {len(logs)} logs, {size / 1e6:.1f} MB "
          f"(CPU = user + system seconds, summed over the export process and its workers; "
          f"load average {os.getloadavg()[0]:.1f}):")
    print(f"  baseline: export --format parquet  {wall['parquet']:6.2f} s wall  {cpu['parquet']:6.2f} s CPU")
    print(f"  export --format inspect            {wall['inspect']:6.2f} s wall  {cpu['inspect']:6.2f} s CPU"
          f"  = {wall['inspect'] / wall['parquet']:.2f} × baseline  "
          f"{'OK' if wall['inspect'] < 60 else 'OVER the 60 s target'}")
    if args.json:
        args.json.write_text(json.dumps({"steps": n_steps, "repeats": args.repeats, "logs": len(logs), "bytes": size,
                                         "wall_s": wall, "cpu_s": cpu, "load_average": os.getloadavg()}, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
