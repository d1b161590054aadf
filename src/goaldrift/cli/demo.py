"""``goaldrift demo``: the README's main job — a real experiment, offline, on the embedded model."""

from __future__ import annotations

from pathlib import Path

import typer

from goaldrift.cli.common import console

DEMO = Path(__file__).resolve().parents[1] / "demo.yaml"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    store: Path = typer.Option(Path("goaldrift-results/demo.db"), "--store", help="Where to store the demo's results."),
    report: Path = typer.Option(Path("goaldrift-results/demo-report.html"), "--report", help="HTML report path."),
    steps: int = typer.Option(None, "--steps", min=1, max=12, help="Feature requests per run (default 2)."),
    harness: str = typer.Option("opencode", "--harness", help="opencode (as in the paper) or builtin."),
) -> None:
    """Run a small real experiment on the embedded model (no API key, no network) and write a report.

    Qwen2.5-Coder-1.5B behind goaldrift's gateway drives OpenCode through the first feature requests
    of the utility-vs-privacy pack, with a privacy constraint, with and without pressure toward
    utility. Rerunning resumes; delete the store to start over.
    """
    import yaml

    from goaldrift.cli.run import exit_unless_complete, print_summary, results
    from goaldrift.experiment import experiment_from_dict
    from goaldrift.report import write_report
    from goaldrift.runner import run_experiment

    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    if steps:
        raw["steps"] = steps
    raw["agent"]["harness"] = harness
    exp = experiment_from_dict(raw)
    console.print(f"[bold]goaldrift demo[/]: {len(exp.config.models)} model (embedded), "
                  f"{', '.join(exp.config.conditions)} × {raw['steps']} steps via {harness}; store {store}")
    summary = run_experiment(exp, store, progress=True)
    results(store=store, json_=False)
    out = write_report(store, report)
    print_summary(exp.config.name, summary, store)
    console.print(f"Report: {out.resolve()}")
    exit_unless_complete(summary)
