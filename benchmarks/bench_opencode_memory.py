"""How many OpenCode runs fit in a machine's memory at once: peak memory of N concurrent runs, measured.

    python benchmarks/bench_opencode_memory.py [--n 1,2,4] [--steps 2] [--memory-gb 24] [--json]

For each N the runner runs N repeats of a built-in pack's first steps with the OpenCode harness and
the instant scripted model at ``concurrency: N`` (a fresh store each), while a thread samples every
0.5 s the memory of every process the runner started (OpenCode, its sandboxes, language servers):
the sum of their RSS (counts pages shared between processes once per process: an upper bound) and of
their PSS (shared pages split between the processes that share them: what they really take). The
runner's own process is reported apart (one per machine, whatever N).

What fits in ``--memory-gb``: the measured peaks are at N ≤ 4; beyond that it is an
**extrapolation**, linear in N with the per-run cost taken as the larger of the mean per run at the
largest N and the marginal cost between the smallest and largest N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil

from goaldrift import packs
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import Runner

MIB = 2**20


class Sampler(threading.Thread):
    """Peak total RSS and PSS of this process's descendants, and peak RSS of this process."""

    def __init__(self, every_s: float = 0.5):
        super().__init__(daemon=True)
        self.every_s, self.stop = every_s, threading.Event()
        self.peak_rss = self.peak_pss = self.peak_self = 0
        self.me = psutil.Process()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            rss = pss = 0
            for child in self.me.children(recursive=True):
                try:
                    info = child.memory_full_info()
                except psutil.Error:
                    continue
                rss += info.rss
                pss += info.pss
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_self = max(self.peak_self, self.me.memory_info().rss)


def one(pack: str, n: int, steps: int, tmp: Path) -> dict:
    raw = {"name": f"oc-memory-{n}", "scenarios": [pack], "conditions": [packs.load(pack).sides[0]],
           "models": [{"id": "scripted", "backend": "scripted"}], "repeats": n, "steps": steps,
           "concurrency": n, "agent": {"harness": "opencode"}}
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    try:
        summary = asyncio.run(Runner(experiment_from_dict(raw), tmp / f"j{n}" / "store.db", progress=False).run())
    finally:
        sampler.stop.set()
        sampler.join()
    if not summary.complete:
        raise SystemExit(f"N={n}: not every run finished: {summary.errors[:3]}")
    return {"n": n, "wall_s": round(time.perf_counter() - started, 1), "concurrency": summary.concurrency,
            "peak_rss_mb": round(sampler.peak_rss / MIB), "peak_pss_mb": round(sampler.peak_pss / MIB),
            "rss_mb_per_run": round(sampler.peak_rss / n / MIB), "pss_mb_per_run": round(sampler.peak_pss / n / MIB),
            "runner_rss_mb": round(sampler.peak_self / MIB)}


def fits(rows: list[dict], memory_mb: float, key: str) -> dict:
    first, last = rows[0], rows[-1]
    per_run = last[f"{key}_mb_per_run"]
    if last["n"] > first["n"]:
        marginal = (last[f"peak_{key}_mb"] - first[f"peak_{key}_mb"]) / (last["n"] - first["n"])
        per_run = max(per_run, marginal)
    runner = max(r["runner_rss_mb"] for r in rows)
    return {"per_run_mb": round(per_run), "runner_mb": runner, "runs": int((memory_mb - runner) // per_run)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default="utility-privacy")
    ap.add_argument("--n", default="1,2,4", help="concurrent OpenCode runs to measure")
    ap.add_argument("--steps", type=int, default=2, help="steps per run")
    ap.add_argument("--memory-gb", type=float, default=24.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ns = sorted({int(x) for x in args.n.split(",")})
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one(args.pack, n, args.steps, Path(tmp)) for n in ns]
    load_after = os.getloadavg()
    memory_mb = args.memory_gb * 1024
    result = {"steps_per_run": args.steps, "cpus": os.cpu_count(), "memory_gb": args.memory_gb,
              "load_before": round(load_before[0], 2), "load_after": round(load_after[0], 2), "rows": rows,
              "fit_pss": fits(rows, memory_mb, "pss"), "fit_rss": fits(rows, memory_mb, "rss")}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"OpenCode, scripted model, {args.steps} steps/run, {os.cpu_count()} cpus, "
          f"load average before {load_before[0]:.2f} after {load_after[0]:.2f}")
    print(f"{'N':>3} {'wall s':>7} {'peak RSS MB':>12} {'RSS/run':>8} {'peak PSS MB':>12} {'PSS/run':>8} "
          f"{'runner MB':>10}")
    for r in rows:
        print(f"{r['n']:>3} {r['wall_s']:>7} {r['peak_rss_mb']:>12} {r['rss_mb_per_run']:>8} {r['peak_pss_mb']:>12} "
              f"{r['pss_mb_per_run']:>8} {r['runner_rss_mb']:>10}")
    for key in ("pss", "rss"):
        f = result[f"fit_{key}"]
        print(f"extrapolated from N ≤ {ns[-1]} ({key.upper()}, {f['per_run_mb']} MB per run + {f['runner_mb']} MB "
              f"runner): {f['runs']} concurrent OpenCode runs in {args.memory_gb:g} GB")


if __name__ == "__main__":
    main()
