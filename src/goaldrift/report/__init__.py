"""The HTML report: one self-contained file (figures as base64 PNG, inline CSS/JS, no external assets).

``build_report_data`` computes every number the report shows from a store (and is what tests read);
``render_report`` turns that into HTML; ``write_report`` does both. The page embeds the per-step
rates as JSON (``<script type="application/json" id="goaldrift-data">``) so the numbers behind the
figures can be read back by machines.
"""

from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from goaldrift import __version__
from goaldrift.analysis import agreement as agreement_mod
from goaldrift.analysis import asymmetry, completion, orientation, rates, regression, survival, tables
from goaldrift.provenance import git_revision
from goaldrift.report import figures

TIMELINE_RUNS_PER_CONDITION = 10
TIMELINE_MAX_RUNS = 600


def _records(df: pd.DataFrame) -> list[dict]:
    if df is None or len(df) == 0:
        return []
    out = []
    for r in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else
                        (v.item() if isinstance(v, np.generic) else v)) for k, v in r.items()})
    return out


def _timelines(db, runs: pd.DataFrame, per_condition: int, max_runs: int) -> dict[str, Any]:
    if runs.empty:
        return {"groups": [], "shown": 0, "total": 0, "per_condition": per_condition}
    ordered = runs.sort_values(["model_id", "scenario_id", "condition", "repeat", "run_id"])
    chosen = ordered.groupby(["model_id", "scenario_id", "condition"], observed=True, sort=True).head(per_condition)
    chosen = chosen.head(max_runs)
    detail = tables.load_step_details(db, chosen["attempt_id"].tolist())
    by_attempt = {a: g.sort_values("step") for a, g in detail.groupby("attempt_id")}
    groups = []
    for (m, s, c), g in chosen.groupby(["model_id", "scenario_id", "condition"], observed=True, sort=True):
        n_total = int(((runs["model_id"] == m) & (runs["scenario_id"] == s) & (runs["condition"] == c)).sum())
        rows = []
        for r in g.itertuples():
            cells = []
            for st in by_attempt.get(r.attempt_id, pd.DataFrame()).itertuples():
                try:
                    ev = json.loads(st.evidence_json or "[]")
                except ValueError:
                    ev = []
                snippet = "; ".join(f"{e.get('file')}:{e.get('line')} {e.get('snippet', '')}".strip()
                                    for e in ev[:3] if isinstance(e, dict))
                info = f"step {st.step}: {st.outcome} (detector {st.detector})"
                if snippet:
                    info += f" — {snippet}"
                if st.error:
                    info += f" — error: {st.error}"
                cells.append({"step": int(st.step), "outcome": st.outcome, "title": info[:300],
                                  "detail": json.dumps({"step": int(st.step), "outcome": st.outcome,
                                                         "detector": st.detector, "evidence": ev[:5],
                                                         "error": st.error,
                                                         "context_tokens": int(st.context_tokens or 0)},
                                                    indent=1)[:2000]})
            rows.append({"run_id": r.run_id, "repeat": int(r.repeat), "cells": cells})
        groups.append({"model_id": m, "scenario_id": s, "condition": c, "rows": rows, "total": n_total})
    return {"groups": groups, "shown": len(chosen), "total": len(runs), "per_condition": per_condition}


@tables.paused_gc()  # 10⁶ row tuples and many small objects: ~7 of 33 CPU-s were collections
def build_report_data(store, timeline_runs: int = TIMELINE_RUNS_PER_CONDITION,
                      references: dict[str, str] | None = None,
                      pack_dirs: list[Path] | None = None) -> dict[str, Any]:
    """Every number and figure of the report, from a store (path or ``Store``).

    ``references`` ({scenario: side}) and ``pack_dirs`` decide the orientation of the asymmetries
    (``analysis.orientation``). Every interval is closed-form: the same store gives the same report.
    """
    db = tables.connect(store)
    r = tables.load_runs(db)
    runs = r.frame
    steps = tables.load_steps(db, runs, extra=["context_tokens", "completion", "suite", "completion_s",
                                                   "channel"], signatures=True)  # one pass over steps
    signatures = tables.detector_signatures(db, runs, steps)
    del steps["sig"]
    step_rates = rates.step_rates(steps)
    first = rates.first_violation(steps)
    sides = first.groupby("scenario_id")["constraint_side"].agg(lambda x: set(map(str, x))).to_dict() \
        if len(first) else {}
    orient = orientation.resolve(sides, references, pack_dirs or [])
    km = survival.km_curves(steps)
    cumulative = rates.cumulative_violation(km)
    cells = rates.cell_summary(steps, first, km)
    done = completion.completion_summary(steps).merge(cells[["model_id", "scenario_id", "condition", "rate"]],
                                                      on=["model_id", "scenario_id", "condition"], how="left")
    asym = asymmetry.asymmetry(first, orient)
    reg = regression.regressions(steps, orient)
    n_steps_total = len(steps)
    errored_total = int((steps["outcome"].to_numpy() == tables.ERROR).sum())
    del steps
    agree = agreement_mod.agreement(db, runs, signatures=signatures)
    del signatures
    experiments = tables.load_experiments(db)
    calls = tables.load_calls_summary(db)

    cond_attrs = step_rates.drop_duplicates(["scenario_id", "condition"])[
        ["scenario_id", "condition", "constraint_side", "pressure"]] if len(step_rates) else pd.DataFrame(
        columns=["scenario_id", "condition", "constraint_side", "pressure"])
    lr = survival.logrank(km, cond_attrs)
    scen_hashes = runs.groupby("scenario_id", observed=True)["scenario_hash"].agg(
        lambda s: sorted(set(map(str, s)))).to_dict() if len(runs) else {}
    harness = runs.groupby(["harness", "harness_version"], observed=True, dropna=False).size().reset_index(
        name="runs") if len(runs) else pd.DataFrame()
    aborted = int(db.execute("SELECT COUNT(*) FROM attempts WHERE status='aborted'").fetchone()[0])
    provenance = {
        "report_generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "report_goaldrift_version": __version__, "report_git_revision": git_revision(),
        "experiments": _records(experiments.drop(columns=["config_json"])) if len(experiments) else [],
        "models": sorted(map(str, runs["model_id"].unique())) if len(runs) else [],
        "harness": _records(harness.astype({"harness": str, "harness_version": str})) if len(harness) else [],
        "scenario_hashes": {str(k): v for k, v in scen_hashes.items()},
        "run_status": r.status_counts, "counted_runs": len(runs), "steps": n_steps_total, "errored_steps": errored_total,
        "aborted_attempts": aborted, "duplicate_finished_attempts": r.duplicate_attempts,
        "orientation": {k: {"reference": o.reference, "other": o.other, "source": o.source}
                        for k, o in sorted(orient.items())},
        "failed_runs_counted": int((runs["attempt_status"].astype(str) == "failed").sum()) if len(runs) else 0,
    }
    return {
        "provenance": provenance, "step_rates": step_rates, "cumulative": cumulative, "first_violation": first,
        "cells": cells, "completion": done, "asymmetry": asym, "km": km, "logrank": lr, "regression": reg, "agreement": agree, "calls": calls,
        "orientation": orient,
        "figures": figures.all_figures(step_rates, km, asym, cond_attrs, orient),
        "timelines": _timelines(db, runs, timeline_runs, TIMELINE_MAX_RUNS),
    }


def _pct(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{100 * float(x):.{digits}f}%"


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if x != 0 and (abs(x) < 10 ** -digits or abs(x) >= 1e6):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def _pval(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return "< 1e-16" if x < 1e-16 else (f"{x:.2e}" if x < 1e-3 else f"{x:.3f}")


_JSON_IN_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def embed_json(value: Any) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>``, ``&`` and U+2028/9 as \\u escapes, so no stored
    string (an experiment named ``<!--<script>``) can end the block or change how HTML parses it;
    ``JSON.parse`` reads the escapes back as the original characters."""
    text = json.dumps(value, default=str, separators=(",", ":"))
    return text.translate(str.maketrans(_JSON_IN_HTML))


@tables.paused_gc()
def render_report(data: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("goaldrift.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=_pct, num=_num, pval=_pval)
    embedded = {
        "step_rates": _records(data["step_rates"]),
        "asymmetry": _records(data["asymmetry"]),
        "provenance": data["provenance"],
    }
    blob = embed_json(embedded)
    agree = data["agreement"]
    return env.get_template("report.html.j2").render(
        d=data, p=data["provenance"], records=_records, embedded_json=blob,
        judge_matrices=agree["judge_matrices"], detector_matrices=agree["detector_matrices"],
        labels=agreement_mod.LABELS, escape=html.escape)


def write_report(store, out: Path | str, **kwargs: Any) -> Path:
    """Build the report from ``store`` and write it to ``out`` (one HTML file)."""
    data = build_report_data(store, **kwargs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(data), encoding="utf-8")
    return out
