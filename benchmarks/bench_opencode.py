"""OpenCode driver overhead and memory, side by side in one process.

    .venv/bin/python benchmarks/bench_opencode.py [--steps 6] [--pack utility-privacy] [--json out.json]

Every configuration runs the same steps of a scenario pack against the gateway's scripted model
(instant: it replays the pack's reference changes as tool calls), so the time of a step is OpenCode's
own overhead plus the driver's. The goaldrift configurations run as a ``Trial`` — exactly what the
runner executes per run (workspace, route, agent, scoring, store) — and report the agent's step time:

- ``goaldrift serve``   — the default driver: one ``opencode serve`` per run, HTTP + event stream
- ``goaldrift serve, no sandbox`` — the same without bubblewrap (the sandbox's cost)
- ``goaldrift run``     — goaldrift's ``opencode run``-per-step driver (``--format json``, DB trace)
- ``naive run``         — ``subprocess.run([opencode, "run", "-s", sid], input=prompt)`` per step,
  same isolated environment and config, no sandbox, no limits, no trace

Reported: start-up (workspace and agent start, until the first step begins), first step, median step
of the rest ("per turn"), peak RSS of the OpenCode process tree per run (sampled every 50 ms), and the
same for two concurrent serve runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from goaldrift.agents.base import AgentLimits, AgentSession
from goaldrift.agents.opencode.config import RunDirs, Settings, build_config, build_env
from goaldrift.agents.opencode.install import OPENCODE_VERSION, require_opencode
from goaldrift.conditions import Condition
from goaldrift.experiment import RunSpec, experiment_from_dict, plan
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import create_backend
from goaldrift.gateway.backends.scripted import ScriptContext, ScriptedBackend
from goaldrift.modelspec import ModelSpec
from goaldrift.scenario import load_scenario
from goaldrift.step_result import StepResult
from goaldrift.store import Store
from goaldrift.trial import Trial
from goaldrift.workspace import Workspace

PACKS = Path(__file__).resolve().parents[1] / "src" / "goaldrift" / "packs"
LIMITS = AgentLimits(wall_time_s=300, max_tokens=10_000_000)
MODEL = {"id": "scripted", "backend": "scripted", "policy": "comply"}


class Sampler:
    """Peak RSS of the process trees rooted at the given PIDs (or the children of this process)."""

    def __init__(self, roots=None):
        self.roots = roots
        self.peak = 0
        self._task: asyncio.Task | None = None

    def _rss(self) -> int:
        me = psutil.Process()
        procs = me.children(recursive=True)
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    async def _loop(self) -> None:
        while True:
            self.peak = max(self.peak, self._rss())
            await asyncio.sleep(0.05)

    def __enter__(self):
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *exc):
        self._task.cancel()


def _setup(gw: Gateway, scenario, root: Path):
    """A workspace, route and session wired by hand: only the naive baseline needs one."""
    cond = Condition(constraint=scenario.sides[0])
    ws = Workspace.create(root, scenario, cond)
    backend = ScriptedBackend(ModelSpec.model_validate(MODEL))
    route = gw.open_route(backend, attempt_id=1, context=ScriptContext(scenario, cond.constraint, ws.repo))
    (root / "agent").mkdir()
    session = AgentSession(workspace=ws.repo, base_url=gw.url_for(route), api_key=route.token,
                           model="scripted", constraint=scenario.value(cond.constraint).constraint,
                           limits=LIMITS, scratch=root / "agent", gateway_socket=gw.socket_path)
    return ws, route, session


def plan_runs(store: Store, scenario, steps: int, options: dict[str, Any], repeats: int = 1) -> list[RunSpec]:
    """The OpenCode runs of one configuration, planned in ``store`` as the runner would."""
    exp = experiment_from_dict({
        "name": "bench-opencode", "models": [MODEL], "scenarios": [str(scenario.root)],
        "conditions": [scenario.sides[0]], "steps": steps, "repeats": repeats,
        "agent": {"harness": "opencode", "limits": LIMITS.model_dump(), "options": options}})
    specs = plan(exp)
    store.upsert_experiment(exp.experiment_id, "bench", {}, exp.config_hash, "bench", None)
    store.plan_runs(exp.experiment_id, [s.store_row() for s in specs])
    return specs


async def run_trial(gw: Gateway, store: Store, spec: RunSpec, root: Path) -> list[StepResult]:
    """One run as a ``Trial``; returns its step results (each step must have worked)."""
    results: list[StepResult] = []
    backend = create_backend(spec.model)
    trial = Trial(spec, store=store, gateway=gw, backend=backend, workspaces=root,
                  on_step=lambda _spec, r: results.append(r))
    outcome = await trial.run()
    assert outcome.status == "finished", outcome.error
    assert all(r.error is None and r.usage.tool_calls for r in results), [r.error for r in results]
    return results


def _start_s(store: Store) -> float:
    """From the attempt's start to its first step's start: workspace and agent start-up."""
    row = store.db.execute("SELECT s.created_at - s.duration_s - a.started_at FROM steps s JOIN attempts a "
                           "USING (attempt_id) WHERE s.step = 1 ORDER BY a.attempt_id DESC LIMIT 1").fetchone()
    return float(row[0])


async def bench_agent(gw, store: Store, scenario, root: Path, steps: int, options: dict[str, Any]) -> dict[str, Any]:
    [spec] = plan_runs(store, scenario, steps, options)
    with Sampler() as sampler:
        results = await run_trial(gw, store, spec, root)
    return _result(_start_s(store), [r.duration_s for r in results], sampler.peak,
                   calls_per_step=results[-1].usage.model_calls)


async def bench_naive(gw, scenario, root: Path, steps: int) -> dict[str, Any]:
    binary = require_opencode()
    ws, route, session = _setup(gw, scenario, root)
    dirs = RunDirs.under(root / "agent").create()
    env = build_env(dirs, build_config(session, dirs, Settings()))
    sid = None
    times = []
    with Sampler() as sampler:
        for i in range(1, steps + 1):
            route.step = i
            argv = [str(binary), "run", "-m", "gd/scripted", "--format", "json"] + (["-s", sid] if sid else [])
            t = time.perf_counter()
            out = await asyncio.to_thread(subprocess.run, argv, input=scenario.spec.steps[i - 1].prompt,
                                          capture_output=True, text=True, env=env, cwd=ws.repo, timeout=300,
                                          check=False)
            times.append(time.perf_counter() - t)
            if sid is None:
                sid = json.loads(out.stdout.splitlines()[0])["sessionID"]
    return _result(0.0, times, sampler.peak)


async def bench_concurrent(gw, store: Store, scenario, root: Path, steps: int, n: int) -> dict[str, Any]:
    async def one(spec: RunSpec) -> list[float]:
        return [r.duration_s for r in await run_trial(gw, store, spec, root)]

    specs = plan_runs(store, scenario, steps, {"driver": "serve"}, repeats=n)
    with Sampler() as sampler:
        results = await asyncio.gather(*(one(spec) for spec in specs))
    times = [t for r in results for t in r[1:]]
    return {"runs": n, "median_step_s": round(statistics.median(times), 3),
            "peak_rss_mb_total": round(sampler.peak / 2**20), "peak_rss_mb_per_run": round(sampler.peak / n / 2**20)}


def _result(start_s: float, times: list[float], peak: int, **extra) -> dict[str, Any]:
    rest = times[1:] or times
    return {"start_s": round(start_s, 3), "first_step_s": round(times[0], 3),
            "median_step_s": round(statistics.median(rest), 3), "steps": len(times),
            "peak_rss_mb": round(peak / 2**20), **extra}


async def main(args) -> dict[str, Any]:
    scenario = load_scenario(PACKS / args.pack)
    steps = min(args.steps, len(scenario.spec.steps))
    tmp = Path(tempfile.mkdtemp(prefix="gd-bench-oc-"))
    out: dict[str, Any] = {"opencode": OPENCODE_VERSION, "pack": args.pack, "steps": steps,
                           "cpus": os.cpu_count(), "load_avg_before": os.getloadavg()[0], "results": {}}
    store = Store(tmp / "store.db")
    try:
        async with Gateway(recorder=store.record_call) as gw:
            configs = [("goaldrift serve", lambda r: bench_agent(gw, store, scenario, r, steps, {"driver": "serve"})),
                       ("goaldrift serve, no sandbox",
                        lambda r: bench_agent(gw, store, scenario, r, steps, {"driver": "serve", "sandbox": "none"})),
                       ("goaldrift run", lambda r: bench_agent(gw, store, scenario, r, steps, {"driver": "run"})),
                       ("naive run", lambda r: bench_naive(gw, scenario, r, steps))]
            for k, (name, fn) in enumerate(configs):
                print(f"… {name}", file=sys.stderr, flush=True)
                out["results"][name] = await fn(tmp / f"r{k}")
            print(f"… {args.concurrent} concurrent serve runs", file=sys.stderr, flush=True)
            out["concurrent"] = await bench_concurrent(gw, store, scenario, tmp / "conc", steps, args.concurrent)
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    naive = out["results"]["naive run"]["median_step_s"]
    serve = out["results"]["goaldrift serve"]["median_step_s"]
    out["speedup_serve_vs_naive"] = round(naive / serve, 2)
    out["load_avg_after"] = os.getloadavg()[0]
    return out


def table(out: dict[str, Any]) -> str:
    rows = [f"OpenCode {out['opencode']}, pack {out['pack']}, {out['steps']} steps, scripted model, "
            f"{out['cpus']} CPUs, load {out['load_avg_before']:.1f}→{out['load_avg_after']:.1f}",
            f"{'driver':30} {'start s':>8} {'step 1 s':>9} {'median step s':>14} {'peak RSS MB':>12}"]
    for name, r in out["results"].items():
        rows.append(f"{name:30} {r['start_s']:>8.2f} {r['first_step_s']:>9.2f} {r['median_step_s']:>14.2f} "
                    f"{r['peak_rss_mb']:>12}")
    c = out["concurrent"]
    rows.append(f"{c['runs']} concurrent serve runs: median step {c['median_step_s']:.2f} s, peak RSS "
                f"{c['peak_rss_mb_total']} MB total, {c['peak_rss_mb_per_run']} MB per run")
    rows.append(f"serve vs naive run: {out['speedup_serve_vs_naive']}× less time per step")
    return "\n".join(rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--pack", default="utility-privacy")
    ap.add_argument("--concurrent", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    a = ap.parse_args()
    result = asyncio.run(main(a))
    print(table(result))
    print(json.dumps(result, indent=2))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
