"""``goaldrift rerun``: run one run again, keeping its old attempt as ``superseded``."""

from __future__ import annotations

from pathlib import Path

import typer

from goaldrift.cli.common import StoreOption, console


def register(app: typer.Typer) -> None:
    app.command("rerun")(rerun)


def rerun(
    run: str = typer.Argument(..., help="Run id or an unambiguous prefix of it (`goaldrift show` lists them)."),
    experiment: Path = typer.Argument(..., help="The experiment file the run belongs to."),
    store: Path = StoreOption,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Mark a run's finished or failed attempt superseded (kept, excluded from results) and run it again.

    The experiment file gives the scenarios, models and keys. Like `run`, this resumes the whole
    experiment: any other unfinished run of it runs too.
    """
    from goaldrift.cli.run import exit_unless_complete, print_summary
    from goaldrift.errors import BadInput
    from goaldrift.experiment import load_experiment, plan
    from goaldrift.runner import run_experiment
    from goaldrift.stepview import resolve_run
    from goaldrift.store import RunnerLock, Store

    exp = load_experiment(experiment)
    s = Store(store, readonly=True)
    try:
        run_id = resolve_run(s, run)
    finally:
        s.close()
    if run_id not in {spec.run_id for spec in plan(exp)}:
        raise BadInput(f"run {run_id} is not one of {experiment}'s runs: pass the experiment file it came from")
    with RunnerLock(store):
        s = Store(store)
        try:
            marked = s.supersede(run_id)
        finally:
            s.close()
    console.print(f"run {run_id}: {marked} attempt(s) marked superseded; running it again")
    summary = run_experiment(exp, store, progress=progress)
    print_summary(exp.config.name, summary, store)
    exit_unless_complete(summary)
