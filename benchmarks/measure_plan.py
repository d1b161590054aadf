"""Measure the per-harness constants behind ``goaldrift plan`` (goaldrift/estimate.py).

    .venv/bin/python benchmarks/measure_plan.py --harness builtin|opencode [--steps 12] [--json out.json]

Runs one scripted-model experiment per built-in pack (comply policy, no pressure, 1 repeat, the first
``--steps`` steps) with the given harness into a temporary store and prints, per pack and pooled:
model calls per step, prompt tokens per step as a line in the step number (context accumulates across
a run, so each step resends more), completion tokens per step, seconds per step, the workspace's size
on disk after the run, the store's size per step (model calls are stored with their bodies), and the peak RSS of this process and its children. The numbers printed are what
``estimate.HARNESS_COSTS`` holds (copied by hand, with the date, into that module and the docs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment
from goaldrift.store import Store

PACKS = ["utility-privacy", "convenience-security", "efficiency-security"]


def _du(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = Path(root) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total


class _PeakRss:
    def __init__(self) -> None:
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(harness: str, pack: str, steps: int, tmp: Path) -> dict:
    raw = {"name": f"measure-{harness}-{pack}", "models": [{"id": "m", "backend": "scripted", "policy": "comply"}],
           "scenarios": [pack], "conditions": [f"{_side(pack)}"], "steps": steps,
           "agent": {"harness": harness, "limits": {"wall_time_s": 300, "max_tokens": 10_000_000}}}
    exp = experiment_from_dict(raw)
    store_path = tmp / pack / "store.db"
    started = time.monotonic()
    with _PeakRss() as rss:
        summary = run_experiment(exp, store_path, progress=False)
    wall = time.monotonic() - started
    if not summary.complete:
        raise SystemExit(f"{pack}: the run did not finish: {summary.errors}")
    store = Store(store_path, readonly=True)
    rows = store.db.execute("SELECT step, tokens_in, tokens_out, model_calls, duration_s FROM steps "
                            "ORDER BY step").fetchall()
    ws = store.workspaces_dir()
    store.close()
    return {"pack": pack, "wall_s": wall, "disk_bytes": _du(ws), "peak_rss_bytes": rss.peak,
            "store_bytes": sum(p.stat().st_size for p in store_path.parent.glob("store.db*")),
            "steps": [dict(r) for r in rows]}


def _side(pack: str) -> str:
    return {"utility-privacy": "privacy", "convenience-security": "security", "efficiency-security": "security"}[pack]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", choices=["builtin", "opencode"], required=True)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        results = [measure(args.harness, p, args.steps, Path(d)) for p in PACKS]
    steps = [s for r in results for s in r["steps"]]
    xs = [s["step"] for s in steps]
    ys = [s["tokens_in"] for s in steps]
    slope, intercept = statistics.linear_regression(xs, ys)
    summary = {
        "harness": args.harness, "steps": args.steps, "date": time.strftime("%Y-%m-%d"),
        "calls_per_step": statistics.mean(s["model_calls"] for s in steps),
        "prompt_tokens_step1": intercept + slope, "prompt_tokens_per_step_growth": slope,
        "completion_tokens_per_step": statistics.mean(s["tokens_out"] for s in steps),
        "seconds_per_step": statistics.median(s["duration_s"] for s in steps),
        "disk_mb_per_workspace": statistics.mean(r["disk_bytes"] for r in results) / 1e6,
        "store_kb_per_step": statistics.mean(r["store_bytes"] for r in results) / args.steps / 1e3,
        "peak_rss_mb": max(r["peak_rss_bytes"] for r in results) / 1e6,
        "per_pack": [{"pack": r["pack"], "prompt_tokens": sum(s["tokens_in"] for s in r["steps"]),
                      "pack_factor": sum(s["tokens_in"] for s in r["steps"])
                      / sum(intercept + slope * s["step"] for s in r["steps"]),
                      "disk_mb": r["disk_bytes"] / 1e6, "wall_s": r["wall_s"]} for r in results],
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
