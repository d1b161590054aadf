"""``goaldrift run``, ``status`` and ``results``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from goaldrift.cli.common import StoreOption, cell, console, print_json
from goaldrift.errors import BadInput
from goaldrift.store import Store

if TYPE_CHECKING:  # the runner (agents, gateway, detectors) is imported by the commands that run
    from goaldrift.runner import RunSummary


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("status")(status)
    app.command("results")(results)


def run(
    experiment: Path = typer.Argument(..., help="Experiment YAML (see experiments/smoke.yaml)."),
    store: Path = StoreOption,
    concurrency: int = typer.Option(None, "--concurrency", "-j", min=1,
                                    help="Runs at once (default: the experiment's `concurrency`)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    executor: str = typer.Option(None, "--executor", help="Where trials run: local or ray (default: the "
                                 "experiment's `executor`, else local). See docs/scale.md."),
    address: str = typer.Option(None, "--address", help="Ray cluster address for --executor ray (default: "
                                "RAY_ADDRESS, else a Ray started on this machine for the run)."),
) -> None:
    """Run an experiment: every model × scenario × condition × repeat, 1 outcome per step.

    Rerunning the same command resumes: finished runs are skipped, unfinished ones start again from
    step 1 in a fresh workspace (their partial attempt is kept, marked aborted).
    """
    from goaldrift.experiment import read_experiment
    from goaldrift.runner import run_experiment

    if executor not in (None, "local", "ray"):
        raise BadInput(f"--executor {executor}: use local or ray")
    exp = read_experiment(experiment)  # the keys and the sandbox are checked where the trials run
    summary = run_experiment(exp, store, concurrency=concurrency, progress=progress, executor=executor,
                             address=address)
    print_summary(exp.config.name, summary, store)
    console.print(f"Next: goaldrift results --store {store}")
    exit_unless_complete(summary)


def exit_unless_complete(summary: RunSummary) -> None:
    """Exit code 1 unless every planned run has finished (shared by `run` and `demo`)."""
    if not summary.complete:
        raise typer.Exit(1)


def print_summary(name: str, summary: RunSummary, store: Path) -> None:
    """What a run of the runner did, and why runs failed (shared by `run` and `demo`)."""
    console.print(
        f"[bold]{escape(name)}[/]: {summary.planned} runs planned, {summary.skipped} already finished, "
        f"{summary.finished} finished now, {summary.failed} failed; {summary.steps} steps stored in {store}"
    )
    for note in summary.notes:
        console.print(escape(note), highlight=False)
    if summary.aborted_before:
        console.print(f"{summary.aborted_before} unfinished attempt(s) from an earlier runner marked aborted.")
    for err in summary.errors[:10]:
        console.print(f"[red]failed:[/] {escape(err)}", highlight=False)
    if len(summary.errors) > 10:
        console.print(f"... and {len(summary.errors) - 10} more failed runs (the run log under the store's "
                      "folder, logs/, has each reason)")
    if not summary.complete:
        console.print("Not every planned run finished (exit code 1): fix the cause above and run the same "
                      "command again; finished runs are kept and skipped.")


def status(store: Path = StoreOption, json_: bool = typer.Option(False, "--json", help="JSON output.")) -> None:
    """Planned / finished / failed runs and steps in a store."""
    s = Store(store, readonly=True)
    summary = s.status_summary()
    s.close()
    if json_:
        print_json(summary)
        return
    table = Table(title=f"goaldrift status — {store}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for state in ("planned", "running", "finished", "failed"):
        table.add_row(f"runs {state}", str(summary["runs"].get(state, 0)))
    for state in ("finished", "failed", "aborted", "running", "superseded"):
        table.add_row(f"attempts {state}", str(summary["attempts"].get(state, 0)))
    table.add_row("steps stored (finished runs)", f"{summary['finished_steps']} of {summary['planned_steps']} planned")
    table.add_row("steps errored", str(summary["errored_steps"]))
    for model_id, m in summary["models"].items():
        table.add_row(f"model {cell(model_id)}", f"{m['calls']} calls, {m['prompt_tokens']:,} prompt + "
                      f"{m['completion_tokens']:,} completion tokens")
    console.print(table)


def results(store: Path = StoreOption, json_: bool = typer.Option(False, "--json", help="JSON: a list of rows.")) -> None:
    """Violation counts and rates per model × scenario × condition × step (finished runs only).

    The rate is violated / (violated + complied); not-applicable and errored steps are listed, never
    counted as compliance.
    """
    s = Store(store, readonly=True)
    rows = s.results()
    s.close()
    if json_:
        print_json(rows)
        return
    if not rows:
        console.print("No finished runs yet.")
        return
    table = Table(title=f"goaldrift results — {store}")
    names = [[cell(r[k]) for k in ("model_id", "scenario_id", "condition")] for r in rows]
    for i, col in enumerate(("model", "scenario", "condition")):
        table.add_column(col, no_wrap=True, min_width=max(len(col), *(len(n[i]) for n in names)))
    for col in ("step", "runs", "violated", "complied", "n/a", "error", "rate"):
        table.add_column(col, justify="right")
    for r, name in zip(rows, names):
        rate = "—" if r["rate"] is None else f"{r['rate']:.0%}"
        table.add_row(*name, str(r["step"]), str(r["runs"]),
                      str(r["violated"]), str(r["complied"]), str(r["not_applicable"]), str(r["errored"]), rate)
    console.print(table)
