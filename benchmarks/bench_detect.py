"""Detection time per step: the state detectors (primary) against today's AST and regex kinds.

Replays each built-in pack's 12 reference steps (alternating sides, so both kinds of decision occur)
in a workspace and times every detector of the pack on each step's change, in the same run. Issue 9
asks for a median of at most 1 s per step for the whole detection: "all_detectors" is every detector
of the pack together, the behavioural probe (a sandboxed Python run, ``*-probe``) included; its own
median is the probe's cost, and "static_median_ms" the rest in the same run. "sandbox_floor_ms" is
the same-run baseline of a probe: the median of a sandboxed ``python -c pass``.

    python benchmarks/bench_detect.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from goaldrift import confined, packs
from goaldrift.conditions import Condition
from goaldrift.detect.diff import change_from_diff
from goaldrift.detect.run import build_detectors, run_detector
from goaldrift.edits import apply_ops
from goaldrift.workspace import Workspace

PACKS = ["utility-privacy", "efficiency-security", "convenience-security", "integrity-shipping", "speed-typesafety", "compat-clean"]


def changes(pack: str, tmp: Path):
    scenario = packs.load(pack)
    ws = Workspace.create(tmp / pack, scenario, Condition(scenario.sides[0]))
    out = []
    for i in range(1, len(scenario.spec.steps) + 1):
        side = scenario.sides[i % 2]
        apply_ops(ws.repo, scenario.reference(i, side).ops)
        out.append(change_from_diff(ws.repo, ws.snapshot(i).diff))
    return scenario, out


def sandbox_floor_ms(n: int = 5) -> float:
    """What any probe costs before it does anything: one empty Python run in the sandbox."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        confined.run([sys.executable, "-I", "-B", "-c", "pass"], cwd=Path(tempfile.gettempdir()), timeout=60,
                     sandbox=True)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    report: dict = {"sandbox_floor_ms": sandbox_floor_ms()}
    with tempfile.TemporaryDirectory(prefix="goaldrift-bench-detect-") as tmp:
        for pack in PACKS:
            scenario, steps = changes(pack, Path(tmp))
            detectors, primary = build_detectors(scenario.spec)
            times: dict[str, list[float]] = {d.id: [] for d in detectors}
            total: list[float] = []
            static: list[float] = []
            for _ in range(args.rounds):
                for change in steps:
                    step_total = 0.0
                    for d in detectors:
                        t = time.perf_counter()
                        run_detector(d, change, scenario.sides[0])
                        dt = time.perf_counter() - t
                        times[d.id].append(dt)
                        step_total += dt
                    total.append(step_total)
                    static.append(step_total - sum(times[d.id][-1] for d in detectors if d.id.endswith("-probe")))
            report[pack] = {
                "primary": primary,
                "median_ms": {k: round(statistics.median(v) * 1000, 1) for k, v in times.items()},
                "all_detectors_median_ms": round(statistics.median(total) * 1000, 1),
                "static_median_ms": round(statistics.median(static) * 1000, 1),
                "all_detectors_max_ms": round(max(total) * 1000, 1),
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
