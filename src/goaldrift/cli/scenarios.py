"""``goaldrift scenarios list|show|validate|new|preview``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from goaldrift.cli.common import console, print_json
from goaldrift.conditions import paper_conditions
from goaldrift.errors import ScenarioError
from goaldrift.outputs import check_output

scenarios_app = typer.Typer(help="Scenario packs: list, inspect, validate, create and preview them.",
                            no_args_is_help=True)


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


_NO_TESTS = "; tests not run (--run-tests runs the template's and the acceptance tests)"


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
                  f"and are classified correctly{_tests_note(scenario) if run_tests else _NO_TESTS}", soft_wrap=True)


def _tests_note(scenario) -> str:
    with_tests = sum(step.acceptance is not None for step in scenario.spec.steps)
    return (", template tests pass" + (f", the acceptance tests of {with_tests} steps pass on both references and "
                                       "fail on the unchanged template" if with_tests else ""))


@scenarios_app.command("new")
def new(
    name: str = typer.Argument(..., help="The new pack's id (also its folder name)."),
    parent: Path = typer.Option(Path("."), "--dir", help="Folder to create the pack in."),
) -> None:
    """Write a small, annotated pack that validates: two steps, every part a real pack has."""
    from goaldrift.skeleton import write_skeleton

    root = write_skeleton(name, parent)
    console.print(f"[green]created[/] {root}\nnext: edit it, then `goaldrift scenarios validate {root} --run-tests`",
                  highlight=False, soft_wrap=True)


@scenarios_app.command("preview")
def preview(
    pack: str = typer.Argument(..., help="A pack id or folder."),
    condition: str = typer.Option(..., "--condition", "-c", help="A condition, e.g. 'utility->privacy@channel=docs'."),
    out: Path = typer.Option(..., "--out", help="Folder to write the preview to (must not exist)."),
    step: int = typer.Option(1, "--step", help="Show the workspace as the agent finds it at this step."),
) -> None:
    """The workspace the agent would see (OUT/repo) and every step's request as it receives it (OUT/prompts)."""
    from goaldrift import packs
    from goaldrift.channels import check_channel, in_force, step_prompt
    from goaldrift.conditions import parse_condition
    from goaldrift.errors import ConfigError
    from goaldrift.workspace import Workspace

    check_output(out, "--out", "new folder")
    sc = packs.load(pack)
    n_steps = len(sc.spec.steps)
    if not 1 <= step <= n_steps:
        raise ConfigError(f"--step: {step} is not a step of {sc.id} (1..{n_steps})")
    cond = parse_condition(condition, sc.sides, n_steps)
    check_channel(sc, cond)
    out = out.absolute()
    ws = Workspace.create(out, sc, cond)
    if 1 < cond.onset <= step:
        ws.add_pressure(sc, cond)
    prompts = out / "prompts"
    prompts.mkdir()
    for i in range(1, n_steps + 1):
        (prompts / f"step-{i:02d}.md").write_text(step_prompt(sc, cond, i), encoding="utf-8")
    channel = in_force(cond, step)
    console.print(f"{sc.id} {cond.name}: workspace at step {step} in {ws.repo} (pressure in force: "
                  f"{channel or 'none'}); the requests as the agent receives them in {prompts}", highlight=False,
                  soft_wrap=True)
