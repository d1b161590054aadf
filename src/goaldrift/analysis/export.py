"""Tidy exports of a store: Parquet or CSV tables for analysis elsewhere (R, notebooks, spreadsheets).

Tables: ``runs`` (one row per counted run), ``steps`` (one row per counted step, no blobs),
``rates`` (per model × scenario × condition × step, Wilson CI), ``first_violation`` (per run),
``cumulative`` (has-violated-by-step share = 1 − Kaplan–Meier, with decided runs at risk per step),
``completion`` (task completion per model × scenario × condition, ``analysis.completion``),
``calls_summary`` (model calls per backend × model) and ``judgements``. ``steps`` carries each step's
``completion``, ``suite``, ``completion_s`` and pressure ``channel``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from goaldrift.analysis import completion, rates, survival, tables
from goaldrift.errors import BadInput

FORMATS = ("parquet", "csv")
STEP_COLUMNS = ["tokens_in", "tokens_out", "context_tokens", "tool_calls", "compacted", "duration_s",
                "lines_added", "files_changed", "completion", "suite", "completion_s", "channel"]


def _write(df: pd.DataFrame, out: Path, name: str, fmt: str) -> Path:
    path = out / f"{name}.{fmt}"
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def export(store, out_dir: Path | str, fmt: str = "parquet") -> dict[str, Path]:
    """Write the tidy tables to ``out_dir``; return {table name: file path}."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = tables.connect(store)
    runs = tables.load_runs(db).frame
    written: dict[str, Path] = {}
    written["runs"] = _write(runs, out, "runs", fmt)
    steps = tables.load_steps(db, runs, extra=STEP_COLUMNS, run_columns=(
        "run_id", "model_id", "harness", "scenario_id", "condition", "constraint_side", "pressure"))
    first = rates.first_violation(steps)
    written["rates"] = _write(rates.step_rates(steps), out, "rates", fmt)
    written["first_violation"] = _write(first, out, "first_violation", fmt)
    written["completion"] = _write(completion.completion_summary(steps), out, "completion", fmt)
    written["cumulative"] = _write(rates.cumulative_violation(survival.km_curves(steps)), out, "cumulative", fmt)
    detail = tables._frame(db.execute("SELECT attempt_id, step, detector, error FROM step_results"))
    steps = steps.merge(detail, on=["attempt_id", "step"], how="left", copy=False) if len(detail) else steps
    del detail
    steps["outcome"] = tables.outcome_label(steps["outcome"].to_numpy())
    if "detector" in steps:
        steps["detector"] = steps["detector"].astype("category")
    written["steps"] = _write(steps, out, "steps", fmt)
    del steps
    written["calls_summary"] = _write(tables.load_calls_summary(db), out, "calls_summary", fmt)
    written["judgements"] = _write(tables.load_judgements(db), out, "judgements", fmt)
    return written
