"""``goaldrift demo``: the README's main job — a real experiment, offline, on the embedded model.

The experiment is data (``demo.yaml`` for the builtin agent, ``demo-opencode.yaml`` for OpenCode);
this command runs it, writes the report and prints what a newcomer needs to judge the result: how
many steps reached a decision (violated or complied) and, per condition, the violation rate with its
95% Wilson interval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from goaldrift.cli.common import console
from goaldrift.outputs import check_output

CONFIGS = Path(__file__).resolve().parents[1]
DEMO = CONFIGS / "demo.yaml"
DEMOS = {"builtin": DEMO, "opencode": CONFIGS / "demo-opencode.yaml"}


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    store: Path = typer.Option(None, "--store", help="Where to store the demo's results "
                               "(default goaldrift-results/demo.db, demo-opencode.db for OpenCode)."),
    report: Path = typer.Option(None, "--report", help="HTML report path (default beside the store)."),
    steps: int = typer.Option(None, "--steps", min=1, max=6, help="Tickets per run (default: the config's; the pack has 6)."),
    harness: str = typer.Option("builtin", "--harness", help="builtin (the default demo) or opencode."),
) -> None:
    """Run a small real experiment on the embedded model (no API key, no network) and write a report.

    Qwen2.5-Coder-1.5B behind goaldrift's gateway works through the first tickets of the
    compact-privacy pack (made for small models) under each side's constraint, with and without
    pressure toward the other side. Rerunning resumes; delete the store to start over.
    """
    import yaml

    from goaldrift.cli.run import exit_unless_complete, print_summary
    from goaldrift.errors import ConfigError
    from goaldrift.experiment import experiment_from_dict
    from goaldrift.report import write_report
    from goaldrift.runner import run_experiment

    if harness not in DEMOS:
        raise ConfigError(f"--harness: {harness!r} is not one of {sorted(DEMOS)}")
    raw = yaml.safe_load(DEMOS[harness].read_text(encoding="utf-8"))
    if steps:
        raw["steps"] = steps
    store = store or Path("goaldrift-results") / f"{raw['name']}.db"
    report = report or store.with_name(f"{store.stem}-report.html")
    check_output(report, "--report", "file")  # before the runs, not after them
    exp = experiment_from_dict(raw)
    console.print(f"[bold]goaldrift demo[/]: embedded model via {harness}, {exp.config.scenarios[0]} pack, "
                  f"{len(exp.config.conditions)} conditions × {raw['steps']} steps; store {store}")
    summary = run_experiment(exp, store, progress=True)
    rows = decisions(store)
    console.print(decision_table(rows, store))
    out = write_report(store, report)
    print_summary(exp.config.name, summary, store)
    total = sum(r["steps"] for r in rows)
    decided = sum(r["violated"] + r["complied"] for r in rows)
    console.print(f"Decided steps (violated or complied): {decided} of {total}"
                  + (f" ({decided / total:.0%})" if total else ""))
    console.print(f"Report: {out.resolve()}")
    exit_unless_complete(summary)


def decisions(store: Path) -> list[dict[str, Any]]:
    """Per model × scenario × condition, pooled over steps: outcome counts and the violation rate
    (violated / decided) with its 95% Wilson interval."""
    from goaldrift.analysis.rates import wilson
    from goaldrift.store import Store

    s = Store(store, readonly=True)
    rows = s.results()
    s.close()
    pooled: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["model_id"], r["scenario_id"], r["condition"])
        cell = pooled.setdefault(key, {"model_id": key[0], "scenario_id": key[1], "condition": key[2],
                                       "steps": 0, "violated": 0, "complied": 0, "not_applicable": 0, "errored": 0})
        cell["steps"] += r["runs"]
        for k in ("violated", "complied", "not_applicable", "errored"):
            cell[k] += r[k]
    out = list(pooled.values())
    for cell in out:
        n = cell["violated"] + cell["complied"]
        cell["rate"] = cell["violated"] / n if n else None
        lo, hi = wilson(cell["violated"], n) if n else (None, None)
        cell["ci"] = (float(lo), float(hi)) if n else None
    return out


def decision_table(rows: list[dict[str, Any]], store: Path) -> Table:
    table = Table(title=f"goaldrift demo — {store}")
    for col in ("model", "scenario", "condition"):
        table.add_column(col, no_wrap=True)
    for col in ("steps", "violated", "complied", "n/a", "error", "violation rate [95% CI]"):
        table.add_column(col, justify="right")
    for r in rows:
        rate = "—" if r["rate"] is None else f"{r['rate']:.0%} [{r['ci'][0]:.0%}, {r['ci'][1]:.0%}]"
        table.add_row(r["model_id"], r["scenario_id"], r["condition"], str(r["steps"]), str(r["violated"]),
                      str(r["complied"]), str(r["not_applicable"]), str(r["errored"]), rate)
    return table
