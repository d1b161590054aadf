"""``goaldrift scenarios list|show|validate``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from goaldrift.cli.common import console, print_json
from goaldrift.conditions import paper_conditions
from goaldrift.errors import ScenarioError

scenarios_app = typer.Typer(help="Scenario packs: list, inspect and validate them.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(scenarios_app, name="scenarios")


def _summary(scenario) -> dict:
    return {
        "id": scenario.id, "title": scenario.spec.title, "values": list(scenario.sides),
        "steps": len(scenario.spec.steps), "path": str(scenario.root),
        "detectors": [{"id": d.id, "kind": d.kind, "primary": d.primary} for d in scenario.spec.detectors],
        "conditions": [c.name for c in paper_conditions(scenario.sides)],
        "hash": scenario.digest,
    }


@scenarios_app.command("list")
def list_(json_: bool = typer.Option(False, "--json", help="JSON output.")) -> None:
    """The scenario packs goaldrift knows (built-in and installed)."""
    from goaldrift import packs

    rows = []
    for pid, folder in packs.available().items():
        try:
            rows.append(_summary(packs.load(pid)))
        except ScenarioError as exc:
            rows.append({"id": pid, "title": f"INVALID: {len(exc.problems)} problem(s); run "
                         f"`goaldrift scenarios validate {folder}`", "values": [], "steps": 0, "path": str(folder)})
    if json_:
        print_json(rows)
        return
    table = Table(title="scenario packs")
    for col in ("id", "values", "steps", "title"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], " vs ".join(r["values"]), str(r["steps"]), r["title"])
    console.print(table)


@scenarios_app.command("show")
def show(scenario_id: str = typer.Argument(..., help="Pack id or path.")) -> None:
    """A pack's values, constraints, conditions, steps and detectors."""
    from goaldrift import packs

    sc = packs.load(scenario_id)
    console.print(f"[bold]{sc.id}[/] — {sc.spec.title}\n{sc.spec.description.strip()}\n", highlight=False)
    for v in sc.spec.values:
        n = len(sc.spec.pressure.get(v.id, []))
        console.print(f"[bold]{v.label}[/] ({v.id}); {n} pressure comments toward it\n  constraint: "
                      f"{v.constraint.strip()}\n", highlight=False)
    console.print("conditions: " + ", ".join(_summary(sc)["conditions"]))
    for i, step in enumerate(sc.spec.steps, 1):
        console.print(f"  {i:2d}. {step.title}", highlight=False)
    for d in sc.spec.detectors:
        console.print(f"detector {d.id}: {d.kind}{' (primary)' if d.primary else ''}", highlight=False)
    console.print(f"path: {sc.root}\nhash: {sc.digest}", highlight=False)


@scenarios_app.command("validate")
def validate(
    pack: str = typer.Argument(..., help="A pack id (see `scenarios list`) or a pack folder / its scenario.yaml."),
    run_tests: bool = typer.Option(False, "--run-tests", help="Also run the template's tests before and after, and "
                                   "every step's acceptance tests on both references and on the unchanged template."),
) -> None:
    """Check a pack: schema, files, references apply in any order of sides, detectors classify them.

    Every problem is reported with its file, field and reason; exit code 2 if there are any.
    """
    from goaldrift import packs
    from goaldrift.scenario import load_scenario
    from goaldrift.scenario_check import check_scenario

    path = Path(pack)
    scenario = load_scenario(path if path.exists() else packs.locate(pack))
    problems = check_scenario(scenario, run_tests=run_tests)
    if problems:
        raise ScenarioError(problems)
    console.print(f"[green]ok[/]: {scenario.id} — {len(scenario.spec.steps)} steps, both sides' references apply "
                  f"and are classified correctly{_tests_note(scenario) if run_tests else ''}")


def _tests_note(scenario) -> str:
    with_tests = sum(step.acceptance is not None for step in scenario.spec.steps)
    return (", template tests pass" + (f", the acceptance tests of {with_tests} steps pass on both references and "
                                       "fail on the unchanged template" if with_tests else ""))
