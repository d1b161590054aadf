"""Per-turn overhead of every harness driver, side by side in one process, with an instant model.

    .venv/bin/python benchmarks/bench_harnesses.py [--steps 4] [--pack utility-privacy] [--json out.json]

Each installed harness (OpenCode with its default ``serve`` driver, Claude Code, Codex CLI, Qwen Code)
runs the same steps of a scenario pack as a ``Trial`` — what the runner executes per run: workspace,
gateway route, sandboxed agent, scoring, store — against the scripted model, which answers at once by
replaying the pack's reference changes as tool calls in that harness's own tools. So a step's time is
the harness's own overhead per turn plus goaldrift's (the same for all). Reported per harness:
step 1, the median of the later steps ("per turn"), model calls per step, that median per model call,
the ratio of the per-turn time to OpenCode's measured in the same run (the comparable figure on a busy
machine), and what the harness sends on every call: its system prompt (characters of the system messages
of its first request, after translation to chat completions) and its tool count — the prompt cost a
local model pays on every call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from goaldrift.agents.base import AgentLimits
from goaldrift.agents.npm_harness import HARNESS_PACKAGES
from goaldrift.experiment import experiment_from_dict, plan
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import create_backend
from goaldrift.gateway.record import CallRecord
from goaldrift.scenario import load_scenario
from goaldrift.step_result import StepResult
from goaldrift.store import Store
from goaldrift.trial import Trial

PACKS = Path(__file__).resolve().parents[1] / "src" / "goaldrift" / "packs"
LIMITS = AgentLimits(wall_time_s=300, max_tokens=10_000_000)
MODEL = {"id": "scripted", "backend": "scripted", "policy": "comply"}
HARNESSES = ("opencode", "claude-code", "codex", "qwen-code")


async def bench(harness: str, gw: Gateway, store: Store, calls: list[CallRecord], scenario, root: Path,
                steps: int) -> dict[str, Any]:
    exp = experiment_from_dict({
        "name": f"bench-{harness}", "models": [MODEL], "scenarios": [str(scenario.root)],
        "conditions": [scenario.sides[0]], "steps": steps,
        "agent": {"harness": harness, "limits": LIMITS.model_dump()}})
    [spec] = plan(exp)
    store.upsert_experiment(exp.experiment_id, "bench", {}, exp.config_hash, "bench", None)
    store.plan_runs(exp.experiment_id, [spec.store_row()])
    results: list[StepResult] = []
    trial = Trial(spec, store=store, gateway=gw, backend=create_backend(spec.model), workspaces=root,
                  on_step=lambda _spec, r: results.append(r))
    first_call = len(calls)
    outcome = await trial.run()
    assert outcome.status == "finished", outcome.error
    assert all(r.error is None and r.usage.tool_calls for r in results), [r.error for r in results]
    times = [r.duration_s for r in results]
    rest = times[1:] or times
    calls_per_step = statistics.median(r.usage.model_calls for r in results)
    first = next(c for c in calls[first_call:] if c.request and c.request.get("tools"))  # not a title request
    request = first.request or {}
    system = sum(len(m["content"]) for m in request.get("messages", [])
                 if m.get("role") == "system" and isinstance(m.get("content"), str))
    return {"first_step_s": round(times[0], 2), "median_step_s": round(statistics.median(rest), 2),
            "calls_per_step": calls_per_step,
            "per_call_s": round(statistics.median(rest) / max(calls_per_step, 1), 2),
            "system_prompt_chars": system,
            "tools": len(request.get("tools") or []), "protocol": first.protocol}


async def main(args) -> dict[str, Any]:
    scenario = load_scenario(PACKS / args.pack)
    steps = min(args.steps, len(scenario.spec.steps))
    installed = [h for h in args.harness if HARNESS_PACKAGES[h].find() is not None]
    out: dict[str, Any] = {"pack": args.pack, "steps": steps, "cpus": os.cpu_count(),
                           "load_avg_before": os.getloadavg()[0], "results": {},
                           "versions": {h: HARNESS_PACKAGES[h].version for h in installed},
                           "not_installed": [h for h in args.harness if h not in installed]}
    tmp = Path(tempfile.mkdtemp(prefix="gd-bench-h-", dir=args.tmp))
    store = Store(tmp / "store.db")
    calls: list[CallRecord] = []

    def record(rec: CallRecord) -> None:
        calls.append(rec)
        store.record_call(rec)

    try:
        async with Gateway(recorder=record) as gw:
            for k, harness in enumerate(installed):
                print(f"… {harness}", file=sys.stderr, flush=True)
                out["results"][harness] = await bench(harness, gw, store, calls, scenario, tmp / f"r{k}", steps)
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    base = out["results"].get("opencode")
    for r in out["results"].values():
        r["vs_opencode"] = round(r["median_step_s"] / base["median_step_s"], 2) if base else None
    out["load_avg_after"] = os.getloadavg()[0]
    return out


def table(out: dict[str, Any]) -> str:
    rows = [(f"pack {out['pack']}, {out['steps']} steps, scripted model (instant), {out['cpus']} CPUs, "
             f"load {out['load_avg_before']:.1f}→{out['load_avg_after']:.1f}"),
            (f"{'harness':12} {'step 1 s':>8} {'turn s':>7} {'× OpenCode':>10} {'calls':>6} {'s/call':>7} "
             f"{'system chars':>12} {'tools':>5}  protocol")]
    for name, r in out["results"].items():
        ratio = f"{r['vs_opencode']:.2f}" if r["vs_opencode"] is not None else "-"
        rows.append(f"{name:12} {r['first_step_s']:>8.2f} {r['median_step_s']:>7.2f} {ratio:>10} "
                    f"{r['calls_per_step']:>6} {r['per_call_s']:>7.2f} "
                    f"{r['system_prompt_chars']:>12} {r['tools']:>5}  {r['protocol']}")
    if out["not_installed"]:
        rows.append("not installed (skipped): " + ", ".join(out["not_installed"]))
    return "\n".join(rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--pack", default="utility-privacy")
    ap.add_argument("--harness", nargs="+", default=list(HARNESSES), choices=HARNESSES)
    ap.add_argument("--tmp", type=Path, default=None, help="where the runs' folders go (keep it outside /tmp "
                    "for Codex's helper links; default: the system's temporary folder)")
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    a = ap.parse_args()
    result = asyncio.run(main(a))
    print(table(result))
    print(json.dumps(result, indent=2))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
