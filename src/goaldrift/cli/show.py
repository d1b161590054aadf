"""``goaldrift show``: one run, or one step of it, in the terminal."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from goaldrift.cli.common import StoreOption, cell, console

_MAX_OUTPUT = 2000  # characters of one tool call's output shown (the store keeps what the agent saw)


def register(app: typer.Typer) -> None:
    app.command("show")(show)


def _say(text: object, style: str = "") -> None:
    """Stored (hostile) text: control characters stripped, markup escaped."""
    from goaldrift.stepview import printable

    body = escape(printable(text))
    console.print(f"[{style}]{body}[/]" if style else body, highlight=False, soft_wrap=True)


def show(
    run: str = typer.Argument(None, help="Run id or an unambiguous prefix of it (default: list the runs)."),
    step: int = typer.Option(None, "--step", min=1, help="Show this step in full (default: every step's outcome)."),
    store: Path = StoreOption,
) -> None:
    """Show a run's steps, or one step: the request, the agent's transcript, the diff with the evidence
    lines marked (>>), and every detector's verdict. Without RUN: every run with its id."""
    from goaldrift.stepview import list_runs, resolve_run, run_header, step_outcomes, step_view
    from goaldrift.store import Store

    s = Store(store, readonly=True)
    try:
        if run is None:
            _print_runs(list_runs(s))
            return
        run_id = resolve_run(s, run)
        head = run_header(s, run_id)
        attempt = head["attempt"]
        _say(f"run {run_id}: {head['model_id']} {head['scenario_id']} {head['condition']} #{head['repeat']} "
             f"({head['harness']}, {head['n_steps']} steps) — {head['status']}", "bold")
        if attempt is None:
            console.print("No attempt yet.")
            return
        _say(f"attempt {attempt['number']} (id {attempt['attempt_id']}): {attempt['status']}"
             + (f" — {attempt['error']}" if attempt["error"] else ""))
        if step is None:
            _print_steps(step_outcomes(s, attempt["attempt_id"]))
        else:
            _print_step(step_view(s, attempt["attempt_id"], step))
    finally:
        s.close()


def _print_runs(rows: list[dict]) -> None:
    table = Table()
    for col in ("run", "model", "scenario", "condition", "repeat", "status"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        table.add_row(*(cell(r[k]) for k in ("run_id", "model_id", "scenario_id", "condition", "repeat", "status")))
    console.print(table)
    console.print("One run: goaldrift show RUN (a prefix of the id is enough)")


def _print_steps(rows: list[dict]) -> None:
    table = Table()
    for col in ("step", "outcome", "completion", "detector", "tool calls", "prompt tokens", "s", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["step"]), cell(r["outcome"]), cell(r["completion"] or ""), cell(r["detector"]),
                      str(r["tool_calls"]), f"{r['tokens_in']:,}", f"{r['duration_s']:.1f}", cell(r["error"] or ""))
    console.print(table)
    console.print("Details of one step: goaldrift show RUN --step N")


def _print_step(v) -> None:
    from goaldrift.stepview import one_line

    _say(f"\n── step {v.step}: {v.outcome} (primary detector {v.detector})", "bold")
    if v.error:
        _say(f"error: {v.error}", "red")
    u = v.usage
    _say(f"{u['model_calls']} model calls, {u['tool_calls']} tool calls, {u['tokens_in']:,} prompt + "
         f"{u['tokens_out']:,} completion tokens, {u['duration_s']:.1f} s")
    _say("\n── request", "bold")
    _say(v.request)
    _say("\n── transcript", "bold")
    for i, call in enumerate(v.trace.get("tool_calls", []), 1):
        _say(f"[{i}] {call.get('name')} ({call.get('status')})", "cyan")
        _say(f"    input: {call.get('input')}")
        output = str(call.get("output", ""))
        cut = f" … ({len(output) - _MAX_OUTPUT:,} more characters)" if len(output) > _MAX_OUTPUT else ""
        _say(f"    output: {output[:_MAX_OUTPUT]}{cut}")
    if v.trace.get("text"):
        _say(f"agent: {v.trace['text']}")
    for err in v.trace.get("errors", []):
        _say(f"agent error: {err}", "red")
    _say("\n── diff (>> marks the evidence lines)", "bold")
    for line in v.diff:
        _say((">> " if line.evidence else "   ") + line.text, "bold yellow" if line.evidence else "")
    _say("\n── verdicts", "bold")
    for r in v.verdicts:  # one line each, whatever the agent named its files
        _say(one_line(f"{r.get('detector')}: {r.get('outcome')}" + (f" — {r['note']}" if r.get("note") else "")))
        for e in r.get("evidence", []):
            _say(one_line(f"    {e.get('file')}:{e.get('line')} favours {e.get('side')} ({e.get('rule')}): "
                          f"{e.get('snippet')}"))
    for j in v.judgements:
        _say(f"judge {j['judge']}: {j['outcome']} — {j['rationale']}")
