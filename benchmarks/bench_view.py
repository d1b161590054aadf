"""Benchmark: how fast `goaldrift view` opens a store of ~1,000,000 steps.

Target: the viewer is usable in under 2 s — the server answers, and the overview's filters and first
page of runs, a run page and a step page are served. Two baselines are measured in the same run:
``goaldrift --version`` (interpreter start and the CLI's imports, which every command pays) and a
plain ``SELECT attempt_id, step, outcome FROM steps`` of the same store (the least a full scan costs).
The one full scan (the overview's per-step rates) runs in the background; its time is reported
against the second baseline.

Each repeat starts `goaldrift view` in a fresh process (interpreter start-up and imports included) on a
free 127.0.0.1 port and stops it afterwards; medians over the repeats.

    .venv/bin/python benchmarks/bench_view.py                       # 1M steps, 3 repeats
    .venv/bin/python benchmarks/bench_view.py --store PATH --repeats 1   # an existing store
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import generate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def baseline(store: Path) -> float:
    t = time.perf_counter()
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    n = len(db.execute("SELECT attempt_id, step, outcome FROM steps").fetchall())
    db.close()
    assert n > 0
    return time.perf_counter() - t


def startup() -> tuple[float, float]:
    """Wall and CPU seconds of ``goaldrift --version``."""
    before = psutil.Process().cpu_times()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "goaldrift", "--version"], check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = psutil.Process().cpu_times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def measure(store: Path) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "goaldrift", "view", "--store", str(store), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            while True:
                try:
                    c.get("/")
                    break
                except httpx.TransportError:
                    if proc.poll() is not None:
                        raise SystemExit(f"view exited: {proc.stderr.read().decode()[-2000:]}") from None
                    time.sleep(0.02)
            t_up = time.perf_counter() - t0
            c.get("/static/app.js").raise_for_status()
            c.get("/api/facets").raise_for_status()
            page = c.get("/api/runs").json()
            run_id = page["runs"][0]["run_id"]
            c.get(f"/api/runs/{run_id}").raise_for_status()
            c.get(f"/api/runs/{run_id}/steps/1").raise_for_status()
            c.get("/api/queue").raise_for_status()
            t_usable = time.perf_counter() - t0
            cpu = psutil.Process(proc.pid).cpu_times()
            cpu_usable = cpu.user + cpu.system  # the background scan's thread included
            while not c.get("/api/rates").json()["ready"]:
                time.sleep(0.05)
            t_rates = time.perf_counter() - t0
        return {"up_s": t_up, "usable_s": t_usable, "rates_s": t_rates, "cpu_usable_s": cpu_usable,
                "runs": page["total"]}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--store", type=Path, default=None, help="an existing store to open instead of a new one")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args()
    store = args.store
    if store is None:
        store = Path(tempfile.mkdtemp(prefix="goaldrift-bench-view-")) / "store.db"
        print(f"generating {args.steps:,} steps in {store} ({generate(store, args.steps):.0f} s)")
    n_steps = sqlite3.connect(f"file:{store}?mode=ro", uri=True).execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    results, base, start, start_cpu = [], [], [], []
    for r in range(args.repeats):
        wall, cpu = startup()
        start.append(wall)
        start_cpu.append(cpu)
        base.append(baseline(store))
        results.append(measure(store))
        m = results[-1]
        print(f"  [{r + 1}/{args.repeats}] up {m['up_s']:.2f} s, usable {m['usable_s']:.2f} s "
              f"({m['cpu_usable_s']:.2f} CPU-s), rates {m['rates_s']:.2f} s; baselines: start-up {start[-1]:.2f} s "
              f"({cpu:.2f} CPU-s), scan {base[-1]:.2f} s", flush=True)
    med = {k: statistics.median(m[k] for m in results) for k in ("up_s", "usable_s", "rates_s", "cpu_usable_s")}
    b, st, st_cpu = statistics.median(base), statistics.median(start), statistics.median(start_cpu)
    summary = {"steps": n_steps, "repeats": args.repeats, **med, "baseline_scan_s": b, "baseline_startup_s": st,
               "baseline_startup_cpu_s": st_cpu, "rates_vs_baseline": med["rates_s"] / b,
               "load_average": os.getloadavg()}
    print(f"\nmedians over {args.repeats} repeat(s), {n_steps:,} steps:")
    print(f"load average {os.getloadavg()[0]:.1f} (wall times grow with it; CPU seconds much less)")
    print(f"  baseline: goaldrift --version (start-up)      {st:6.2f} s  {st_cpu:5.2f} CPU-s")
    print(f"  baseline: SELECT attempt_id, step, outcome    {b:6.2f} s")
    print(f"  server up (process start to first answer)     {med['up_s']:6.2f} s")
    print(f"  usable: overview filters, runs page, run, step, queue   {med['usable_s']:6.2f} s"
          f"  {'OK' if med['usable_s'] < 2 else 'OVER the 2 s target'}"
          f" ({med['usable_s'] - st:.2f} s after the start-up baseline; {med['cpu_usable_s']:.2f} CPU-s)")
    print(f"  overview rates ready (background full scan)   {med['rates_s']:6.2f} s"
          f"  = {med['rates_s'] / b:.2f} × the baseline scan")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
