"""``goaldrift plan``: what an experiment will cost, before ``run``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from goaldrift.cli.common import console, print_json


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)


def plan(
    experiment: Path = typer.Argument(..., help="Experiment YAML (checked as `run` checks it; API keys "
                                                "need not be set)."),
    concurrency: int = typer.Option(None, "--concurrency", "-j", min=1,
                                    help="Runs at once (default: the experiment's `concurrency`)."),
    calls_factor: float = typer.Option(1.0, "--calls-factor", min=0.01,
                                       help="Scale calls and tokens (a real model makes more calls per step "
                                            "than the scripted one the constants come from)."),
    call_latency: float = typer.Option(None, "--call-latency", min=0.0,
                                       help="Seconds one model call takes, to include model time in the wall "
                                            "time (default: 0 for scripted models, else left out)."),
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Estimate runs, steps, model calls, tokens, cost, disk, memory and wall time of an experiment.

    The estimate uses per-harness constants measured on scripted runs (see docs/architecture.md,
    "Planning"); nothing is run or written.
    """
    from goaldrift.estimate import estimate
    from goaldrift.experiment import read_experiment

    exp = read_experiment(experiment)
    est = estimate(exp, concurrency=concurrency, calls_factor=calls_factor, call_latency_s=call_latency)
    if json_:
        print_json(est.to_dict())
        return
    table = Table(title=f"goaldrift plan — {escape(exp.config.name)} ({est.harness})", show_header=False)
    table.add_column("what")
    table.add_column("estimate", justify="right")
    cost = "no model has a price" if est.cost_usd is None else f"${est.cost_usd:,.2f}"
    if est.cost_usd is not None and est.unpriced_models:
        cost += f" (without {', '.join(est.unpriced_models)}: no price)"
    wall = _duration(est.wall_s) + ("" if est.model_time_included else " + model time (pass --call-latency)")
    for what, value in (
        ("runs", f"{est.runs:,}"),
        ("steps", f"{est.steps:,}"),
        ("model calls", f"{est.model_calls:,}"),
        ("prompt tokens", f"{est.prompt_tokens:,}"),
        ("completion tokens", f"{est.completion_tokens:,}"),
        ("cost", cost),
        ("disk per workspace", _size(est.disk_mb_per_workspace)),
        ("disk in total (workspaces + store)", _size(est.disk_mb)),
        ("memory per concurrent run", _size(est.memory_mb_per_run)),
        (f"memory at {est.concurrency} concurrent runs", _size(est.memory_mb)),
        (f"wall time at {est.concurrency} concurrent runs", wall),
    ):
        table.add_row(what, escape(value))
    console.print(table)
    console.print("Constants measured with the scripted model: a real model makes more calls per step "
                  "(scale with --calls-factor).")
    if est.unmeasured:
        console.print(f"No measured constants for {escape(', '.join(est.unmeasured))}: estimated with "
                      "OpenCode's.")


def _size(mb: float) -> str:
    return f"{mb / 1000:,.1f} GB" if mb >= 1000 else f"{mb:,.1f} MB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
