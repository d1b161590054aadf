"""``goaldrift judge``, ``report`` and ``export``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from goaldrift.cli.common import StoreOption, console
from goaldrift.errors import BadInput
from goaldrift.outcome import Outcome
from goaldrift.outputs import check_output
from goaldrift.store import Store


def register(app: typer.Typer) -> None:
    app.command("judge")(judge)
    app.command("report")(report)
    app.command("export")(export)


def judge(
    store: Path = StoreOption,
    model_config: Path = typer.Option(None, "--model-config", help="YAML/JSON model entry of the judge, any "
                                      "backend (openai: model, base_url, api_key_env; local; scripted)."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1."),
    model: str = typer.Option(None, "--model", help="Judge model name at that endpoint."),
    api_key_env: str = typer.Option(None, "--api-key-env", help="Environment variable holding the API key."),
    limit: int = typer.Option(None, "--limit", min=1, help="Judge at most N steps (those not judged yet)."),
    packs: list[Path] = typer.Option(None, "--packs", help="Folder(s) with scenario packs (built-in packs are always searched)."),
    concurrency: int = typer.Option(4, "--concurrency", "-j", min=1, help="Judge calls at once."),
    rejudge: bool = typer.Option(False, "--rejudge", help="Judge steps this judge has already judged again."),
) -> None:
    """Ask an LLM judge whether each stored step violated its run's constraint (a second opinion).

    Verdicts go into the store; `goaldrift report` shows their agreement with the detectors.
    """
    from goaldrift.judge import PackFinder, judge_from_options, judge_store

    if not Path(store).exists():
        raise BadInput(f"no results store at {store}: run an experiment first or pass --store PATH")
    j = judge_from_options(model_config, base_url, model, api_key_env)
    s = Store(store)

    async def go():
        async with j:
            return await judge_store(s, j, PackFinder(list(packs or [])), limit, concurrency, rejudge)

    try:
        summary = asyncio.run(go())
    finally:
        s.close()
    outcomes = ", ".join(f"{k}: {v}" for k, v in sorted((summary.by_outcome or {}).items())) or "nothing to judge"
    console.print(f"[bold]{j.name}[/] judged {summary.judged} step(s) — {outcomes}")
    failed = (summary.by_outcome or {}).get(Outcome.ERROR, 0)
    if failed:
        console.print(f"[red]{failed} verdict(s) failed[/] (the judge call failed or its answer was not a verdict; "
                      "the reason is in each judgement's rationale): check the judge model, then judge again "
                      "with --rejudge (exit code 1)")
        raise typer.Exit(1)
    console.print(f"Next: goaldrift report --store {store} --out report.html")


def report(
    store: Path = StoreOption,
    out: Path = typer.Option(..., "--out", "-o", help="HTML file to write (self-contained)."),
    timeline_runs: int = typer.Option(10, "--timeline-runs", min=0, help="Runs per condition in the timelines."),
    reference: list[str] = typer.Option(None, "--reference", help="SCENARIO=SIDE: the side a model is expected to "
                                        "hold more strongly; orients the asymmetries (default: the pack's "
                                        "expected_stronger)."),
    packs: list[Path] = typer.Option(None, "--packs", help="Folder(s) with scenario packs (for expected_stronger; "
                                     "built-in packs are always searched)."),
) -> None:
    """Write the analysis report: drift curves, asymmetry, survival, regression, agreement, timelines."""
    from goaldrift.analysis.orientation import parse_references
    from goaldrift.report import write_report

    refs = parse_references(reference or [])
    check_output(out, "--out", "file")
    s = Store(store, readonly=True)
    try:
        path = write_report(s, out, timeline_runs=timeline_runs, references=refs, pack_dirs=list(packs or []))
    finally:
        s.close()
    console.print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


def export(
    store: Path = StoreOption,
    fmt: str = typer.Option("parquet", "--format", "-f", help="parquet, csv or inspect (Inspect .eval logs)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the tables."),
) -> None:
    """Export tidy tables (runs, steps, rates, first_violation, cumulative, calls_summary, judgements),
    or with --format inspect one Inspect log per experiment × model × scenario × condition."""
    from goaldrift.analysis.export import FORMATS, export as do_export

    if fmt not in (*FORMATS, "inspect"):
        raise BadInput(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)} or inspect")
    check_output(out, "--out", "folder")
    if fmt == "inspect":
        from goaldrift.analysis.inspect_export import export_inspect

        s = Store(store, readonly=True)
        try:
            logs = export_inspect(s, out)
        finally:
            s.close()
        console.print(f"{len(logs)} Inspect log(s) in {out}; open them with: inspect view --log-dir {out}")
        return
    s = Store(store, readonly=True)
    try:
        written = do_export(s, out, fmt)
    finally:
        s.close()
    for name, path in written.items():
        console.print(f"{name}: {path}")
