"""Harness overhead per step with an instant model: workspace snapshot + detection + store write.

Replays a built-in pack's 12 compliant reference steps straight into a workspace (the "model" costs
nothing), then times what goaldrift adds per step. Measured in the same run on the same changes:

- the baseline, the least any snapshotting harness pays: one `git add -A && git commit` per step;
- the first snapshot (`git add` over the work tree + `diff --cached` + write-tree/commit-tree/
  update-ref, on the host), which read the workspace as git configuration (issue 14);
- the second (goaldrift walks the tree and writes the objects; a sandboxed `git diff-tree` diffs
  the two commits), reproduced as today's snapshot plus that git call on the same commits;
- today's (the same objects, the diff computed in-process by ``goaldrift.treediff``: no process).

Wall times are medians; CPU time (this process and the processes it ran) is reported beside them because it is far less sensitive to other jobs on the machine. The load average is printed.

Also reports a whole step through the gateway with the builtin agent and the scripted model.

    python benchmarks/bench_step_overhead.py [--pack utility-privacy] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from goaldrift import packs
from goaldrift.agents.base import StepTrace
from goaldrift.conditions import Condition
from goaldrift.detect.run import behavioural, build_detectors
from goaldrift.edits import apply_ops
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import Runner
from goaldrift.step_result import Scoring, score_step
from goaldrift.store import Store
from goaldrift.workspace import Workspace

_OLD_GIT = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "core.quotePath=false"]


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (git, bubblewrap)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def previous_snapshot(repo: Path, git_dir: Path) -> Callable[[int], str]:
    """The snapshot goaldrift used before issue 14, reproduced command for command."""
    env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_DIR": str(git_dir), "GIT_WORK_TREE": str(repo), "GIT_AUTHOR_NAME": "g", "GIT_AUTHOR_EMAIL": "g@l",
           "GIT_COMMITTER_NAME": "g", "GIT_COMMITTER_EMAIL": "g@l"}

    def git(*args: str) -> str:
        return subprocess.run([*_OLD_GIT, *args], cwd=repo, env=env, check=True, capture_output=True,
                              text=True).stdout

    git("init", "-q", "-b", "main")
    git("add", "--all", "--force", "--", ".")
    git("commit", "-q", "-m", "0")

    def snapshot(step: int) -> str:
        git("add", "--all", "--force", "--", ".")
        diff = git("diff", "--cached", "--no-color", "--no-renames", "--no-ext-diff", "--no-textconv", "-U3", "HEAD")
        tree = git("write-tree").strip()
        commit = git("commit-tree", tree, "-p", "HEAD", "-m", f"step {step}").strip()
        git("update-ref", "HEAD", commit)
        return diff

    return snapshot


def snapshots_side_by_side(pack: str, tmp: Path) -> dict[str, list[float]]:
    """Per-step wall time of the three snapshots on the same changes."""
    scenario = packs.load(pack)
    side = scenario.sides[0]
    ws = Workspace.create(tmp / "new", scenario, Condition(side), sandbox=True)
    old_repo = tmp / "old" / "repo"
    shutil.copytree(ws.repo, old_repo)
    old = previous_snapshot(old_repo, tmp / "old" / "git")
    times: dict[str, list[float]] = {"git_add_on_host": [], "objects+sandboxed_git_diff": [], "in_process": []}
    for i in range(1, len(scenario.spec.steps) + 1):
        ops = scenario.reference(i, side).ops
        for repo in (ws.repo, old_repo):
            apply_ops(repo, ops)
        t0 = time.perf_counter()
        old(i)
        t1 = time.perf_counter()
        ws.snapshot(i)
        t2 = time.perf_counter()
        ws.git("diff-tree", "-p", "--no-color", "--no-renames", "--no-ext-diff", "--no-textconv", "-U3",
               "HEAD~1", "HEAD")
        t3 = time.perf_counter()
        times["git_add_on_host"].append(t1 - t0)
        times["in_process"].append(t2 - t1)
        times["objects+sandboxed_git_diff"].append(t3 - t1)
    return times


def overhead(pack: str, tmp: Path, probes: bool = False) -> tuple[list[float], list[float], dict[str, list[float]]]:
    """Per-step wall time of goaldrift's overhead and of the baseline; ``parts`` splits ours and holds
    its CPU time (``cpu``). Without ``probes`` the pack's behavioural probes are left out: the static
    path is what every step pays, a probe runs only on steps with a decision and has its own budget
    (issue 9: detection including probes ≤ 1 s per step), so both are reported, side by side."""
    scenario = packs.load(pack)
    side = scenario.sides[0]
    detectors, primary = build_detectors(scenario.spec)
    scoring = Scoring([d for d in detectors if probes or not behavioural(d)], primary, side)
    ws = Workspace.create(tmp / "ws", scenario, Condition(side))
    store = Store(tmp / "store.db")
    store.plan_runs("bench", [])
    attempt, _ = store.start_attempt("bench-run", str(ws.repo))
    base = tmp / "baseline"
    shutil.copytree(ws.repo, base)
    subprocess.run(["git", "init", "-q"], cwd=base, check=True)
    subprocess.run(["git", "add", "-A"], cwd=base, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "0"], cwd=base, check=True)
    ours, baseline, cpu = [], [], []
    parts: dict[str, list[float]] = {"snapshot+detect": [], "store": []}
    for i in range(1, len(scenario.spec.steps) + 1):
        ops = scenario.reference(i, side).ops
        apply_ops(ws.repo, ops)
        apply_ops(base, ops)
        c0 = _cpu()
        t0 = time.perf_counter()
        record = score_step(ws, i, StepTrace(), scoring)
        t1 = time.perf_counter()
        store.write_step(attempt, record)
        t3 = time.perf_counter()
        cpu.append(_cpu() - c0)
        parts["snapshot+detect"].append(t1 - t0)
        parts["store"].append(t3 - t1)
        ours.append(t3 - t0)
        b0 = time.perf_counter()
        subprocess.run(["git", "add", "-A"], cwd=base, check=True)
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", str(i)], cwd=base,
                       check=True)
        baseline.append(time.perf_counter() - b0)
    store.close()
    parts["cpu"] = cpu
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
    ours_all, base_all, probed_all = [], [], []
    parts_all: dict[str, list[float]] = {"snapshot+detect": [], "store": [], "cpu": []}
    snaps_all: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            ours, base, parts = overhead(args.pack, Path(tmp))
            ours_all += ours
            base_all += base
            for k, v in parts.items():
                parts_all[k] += v
        with tempfile.TemporaryDirectory() as tmp:
            probed_all += overhead(args.pack, Path(tmp), probes=True)[0]
        with tempfile.TemporaryDirectory() as tmp:
            for k, v in snapshots_side_by_side(args.pack, Path(tmp)).items():
                snaps_all.setdefault(k, []).extend(v)
    with tempfile.TemporaryDirectory() as tmp:
        agent_median, per_step_wall = full_step(args.pack, Path(tmp))
    med = statistics.median(ours_all) * 1000
    bmed = statistics.median(base_all) * 1000
    result = {
        "pack": args.pack, "steps_measured": len(ours_all),
        "overhead_median_ms": round(med, 1), "baseline_git_commit_median_ms": round(bmed, 1),
        "ratio_vs_baseline": round(med / bmed, 2),
        "overhead_cpu_median_ms": round(statistics.median(parts_all["cpu"]) * 1000, 1),
        "overhead_with_probes_median_ms": round(statistics.median(probed_all) * 1000, 1),
        "load_average": os.getloadavg(),
        "parts_median_ms": {k: round(statistics.median(v) * 1000, 2) for k, v in parts_all.items()},
        "snapshot_median_ms": {k: round(statistics.median(v) * 1000, 2) for k, v in snaps_all.items()},
        "full_step_builtin_scripted_median_ms": round(agent_median * 1000, 1),
        "full_step_wall_incl_snapshot_ms": round(per_step_wall * 1000, 1),
        "target_ms": 50,
    }
    print(f"goaldrift overhead per step (median of {len(ours_all)}): {med:.1f} ms "
          f"[snapshot+detect {result['parts_median_ms']['snapshot+detect']} ms, "
          f"store {result['parts_median_ms']['store']} ms]")
    print(f"  CPU time of that overhead (median): {result['overhead_cpu_median_ms']} ms")
    print(f"with the pack's behavioural probes (run on steps with a decision; budget 1 s): "
          f"{result['overhead_with_probes_median_ms']} ms (median)")
    print(f"baseline git add+commit per step: {bmed:.1f} ms  ->  ratio {med / bmed:.2f}x")
    snaps = result["snapshot_median_ms"]
    print(f"snapshot alone, same changes: git add on the host {snaps['git_add_on_host']} ms, "
          f"own objects + sandboxed git diff-tree {snaps['objects+sandboxed_git_diff']} ms, "
          f"today (in-process diff) {snaps['in_process']} ms")
    print(f"load average {os.getloadavg()[0]:.1f} (target: <= 50 ms on an idle machine)")
    print(f"whole step, builtin agent + gateway + scripted model: {agent_median * 1000:.1f} ms (median)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
