"""Benchmark: the embedded model as an agent, before and after the small-model work, both harnesses.

Four configurations run one after another in one process, on the same machine state:

- ``opencode-before`` — ``demo-opencode.yaml`` (compact-privacy through OpenCode, read/edit/write) with
  the model settings it had before the local backend's tool aids (``OPENCODE_BEFORE_PARAMS``:
  ``work_first: 4``, ``repeat_penalty: 1.1``; no ``hidden_tools``, ``constrain_paths``, ``refuse_slots``);
- ``builtin-before`` — the utility-privacy pack through the builtin agent with its earlier behaviour
  (relative paths only, no repeat limit, JSON write/edit tools, the workspace path in the prompt), no
  disk prefix cache, no placeholder veto, every core for generation whatever the load
  (``BEFORE_MODEL_PARAMS``);
- ``opencode-after`` — ``demo-opencode.yaml`` as it is (only ``write``, paths constrained to the
  workspace, slots refused, repeated failing calls noted);
- ``builtin-after`` — ``demo.yaml`` (compact pack, whole-file edit format, constrained paths, ...).

For each: steps run, the share of *decided* steps (violated or complied — the only ones a violation
rate can use), median and mean seconds per step, and how many model calls started from the disk
prefix cache (whole or shared part). The same first ``--conditions`` conditions and ``--steps``
steps are used everywhere. Each configuration's settings are part of the JSON output.
The 1-minute load average is printed beside every configuration: on a shared machine it explains
more of the timing than anything else.

    .venv/bin/python benchmarks/bench_demo.py [--steps 1] [--conditions 2] [--only builtin-after,...]
                                              [--n-threads N] [--wall-time S]

Prints a table, then one JSON document on stdout (the last line).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import yaml

from goaldrift.cli.demo import DEMOS
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment

# demo-opencode.yaml's model settings before hidden_tools / constrain_paths / refuse_slots
OPENCODE_BEFORE_PARAMS = {"n_ctx": 16384, "work_first": 4, "repeat_penalty": 1.1}
# the local backend as it was: no disk prefix cache, no markup/placeholder veto, every core for generation
BEFORE_MODEL_PARAMS = {"prefix_cache_mb": 0, "refuse_placeholders": False, "n_threads": os.cpu_count() or 1}
BEFORE_BUILTIN_OPTIONS = {"edit_format": "tools", "absolute_paths": False, "repeat_limit": 0,
                          "finish_requires_change": False, "constrain_paths": False, "workspace_in_prompt": True}


def configs() -> dict[str, dict[str, Any]]:
    after_builtin = yaml.safe_load(DEMOS["builtin"].read_text())
    after_opencode = yaml.safe_load(DEMOS["opencode"].read_text())
    before_opencode = json.loads(json.dumps(after_opencode))
    before_opencode.update(name="before-opencode")
    before_opencode["models"][0]["params"] = dict(OPENCODE_BEFORE_PARAMS)
    before_builtin = json.loads(json.dumps(after_builtin))
    before_builtin.update(name="before-builtin", scenarios=["utility-privacy"])
    before_builtin["models"][0]["max_tokens"] = 1536
    before_builtin["models"][0]["params"] = {"n_ctx": 16384, "work_first": 4, "repeat_penalty": 1.1,
                                             **BEFORE_MODEL_PARAMS}
    before_builtin["agent"]["options"] = BEFORE_BUILTIN_OPTIONS
    before_builtin["agent"]["limits"] = dict(after_opencode["agent"]["limits"])
    return {"opencode-before": before_opencode, "builtin-before": before_builtin,
            "opencode-after": after_opencode, "builtin-after": after_builtin}


def measure(store: Path) -> dict[str, Any]:
    db = sqlite3.connect(store)
    steps = db.execute("SELECT outcome, duration_s FROM step_results").fetchall()
    disk = 0
    for (resp,) in db.execute("SELECT response FROM model_calls WHERE response IS NOT NULL"):
        g = json.loads(zlib.decompress(resp)).get("goaldrift") or {}
        disk += g.get("kv_disk", "").startswith(("loaded", "shared"))
    db.close()
    durations = [d for _, d in steps]
    outcomes = [o for o, _ in steps]
    decided = sum(o in ("violated", "complied") for o in outcomes)
    return {"steps": len(steps), "decided": decided, "decided_share": decided / len(steps) if steps else None,
            "outcomes": {o: outcomes.count(o) for o in sorted(set(outcomes))},
            "median_step_s": statistics.median(durations) if durations else None,
            "mean_step_s": statistics.fmean(durations) if durations else None, "disk_prefix_loads": disk}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--conditions", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated configuration names")
    ap.add_argument("--n-threads", type=int, default=None,
                    help="llama.cpp threads (default: the configs' own, i.e. every core; on a busy shared "
                         "machine 1 thread can be faster, since llama.cpp's threads wait for each other)")
    ap.add_argument("--wall-time", type=float, default=None,
                    help="per-step time cap in seconds for every configuration (default: the configs' own)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the stores in this folder (default: a temp folder)")
    args = ap.parse_args()
    chosen = [c for c in args.only.split(",") if c]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="goaldrift-bench-demo-") as scratch:
        tmp = args.keep or Path(scratch)
        for name, raw in configs().items():
            if chosen and name not in chosen:
                continue
            raw["steps"] = args.steps
            raw["conditions"] = raw["conditions"][: args.conditions]
            if args.n_threads is not None:
                raw["models"][0]["params"]["n_threads"] = args.n_threads
            if args.wall_time is not None:
                raw["agent"]["limits"]["wall_time_s"] = args.wall_time
            load_before = os.getloadavg()[0]
            t0, cpu0 = time.monotonic(), time.process_time()
            summary = run_experiment(experiment_from_dict(raw), Path(tmp) / f"{name}.db", progress=False)
            row = measure(Path(tmp) / f"{name}.db")
            row.update(wall_s=round(time.monotonic() - t0, 1), failed_runs=summary.failed,
                       cpu_s=round(time.process_time() - cpu0, 1),  # this process (the model), not OpenCode
                       load_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                       pack=raw["scenarios"][0], harness=raw["agent"]["harness"],
                       settings={"model_params": raw["models"][0].get("params", {}),
                                 "agent_options": raw["agent"].get("options", {}),
                                 "limits": raw["agent"].get("limits", {})})
            results[name] = row
            print(f"{name:16} {row['pack']:16} steps {row['steps']:2}  decided {row['decided']:2} "
                  f"({(row['decided_share'] or 0):.0%})  median step {row['median_step_s'] or 0:6.1f} s  "
                  f"mean {row['mean_step_s'] or 0:6.1f} s  model CPU {row['cpu_s']:6.1f} s  disk-prefix loads {row['disk_prefix_loads']}  "
                  f"load {row['load_1min']}  {row['outcomes']}", file=sys.stderr, flush=True)
    print(json.dumps({"steps": args.steps, "conditions": args.conditions, "n_threads": args.n_threads,
                      "wall_time_s": args.wall_time, "results": results}))


if __name__ == "__main__":
    main()
