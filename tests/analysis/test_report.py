"""The report and exports built from synthetic stores show the rates the stores were built with."""

from __future__ import annotations

import json
import re
import sqlite3

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from goaldrift.analysis import tables
from goaldrift.analysis.export import export
from goaldrift.analysis.synthetic import SyntheticDesign, expected_rates
from goaldrift.report import build_report_data, render_report


def _embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="goaldrift-data">(.*?)</script>', html, re.DOTALL)
    assert m, "report has no embedded data block"
    return json.loads(m.group(1))


def test_store_api_and_bulk_paths_write_the_same_shape(small_store):
    runs = tables.load_runs(small_store)
    assert len(runs.frame) == 2 * 2 * 4 * 10 and runs.duplicate_attempts == 0
    steps = tables.load_steps(small_store, runs.frame)
    assert len(steps) == len(runs.frame) * 12
    # the aborted attempts' steps (all "violated") are not counted
    db = sqlite3.connect(small_store)
    assert db.execute("SELECT COUNT(*) FROM attempts WHERE status='aborted'").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == len(steps) + 4


def test_report_rates_match_store_counts_exactly(small_store):
    data = build_report_data(small_store)
    html = render_report(data)
    emb = pd.DataFrame(_embedded(html)["step_rates"])
    db = sqlite3.connect(small_store)
    ref = pd.read_sql_query(
        """SELECT model_id, scenario_id, condition, step, COUNT(*) AS runs, SUM(outcome='violated') AS violated,
                  SUM(outcome='complied') AS complied, SUM(outcome='not_applicable') AS not_applicable,
                  SUM(outcome='error') AS errored FROM step_results GROUP BY 1, 2, 3, 4""", db)
    merged = ref.merge(emb, on=["model_id", "scenario_id", "condition", "step"], suffixes=("", "_r"))
    assert len(merged) == len(ref) == len(emb)
    for c in ("runs", "violated", "complied", "not_applicable", "errored"):
        assert (merged[c] == merged[c + "_r"]).all(), c
    decided = merged["violated"] + merged["complied"]
    assert np.allclose(merged["rate"], merged["violated"] / decided)
    # the visible per-step table carries the same numbers (spot-check one row's rate text)
    r = merged.iloc[5]
    assert f"{100 * r.violated / (r.violated + r.complied):.1f}%" in html
    # every section is present
    for anchor in ("design", "rates", "asymmetry", "survival", "regression", "agreement", "timelines"):
        assert f'id="{anchor}"' in html
    assert "<img" in html and "data:image/png;base64," in html
    assert not re.search(r'(src|href)="https?://', html), "report must not load external assets"


def test_report_recovers_known_probabilities(big_store):
    design = SyntheticDesign(runs_per_condition=300, seed=2)
    data = build_report_data(big_store, timeline_runs=3)
    emb = pd.DataFrame(_embedded(render_report(data))["step_rates"])
    truth = expected_rates(design)
    m = truth.merge(emb, on=["model_id", "scenario_id", "condition", "step"])
    assert len(m) == len(truth)
    covered = ((m["ci_low"] <= m["p"]) & (m["p"] <= m["ci_high"])).mean()
    assert covered >= 0.9, covered  # 95% Wilson intervals
    se = np.sqrt(m["p"] * (1 - m["p"]) / m["decided"])
    assert (np.abs(m["rate"] - m["p"]) < 4.5 * se + 1e-9).all()
    # asymmetry: the paper-like truth drifts toward privacy (the pack's expected_stronger side)
    a = data["asymmetry"]
    row = a[(a["estimand"] == "pressure_asymmetry") & (a["scenario_id"] == "utility-privacy")]
    assert (row["reference"] == "privacy").all() and (row["ci_low"] > 0).all()
    # timelines are bounded: 3 runs per condition
    assert data["timelines"]["shown"] == 2 * 2 * 4 * 3


def test_report_on_an_empty_store(tmp_path):
    from goaldrift.store import Store

    Store(tmp_path / "empty.db").close()
    html = render_report(build_report_data(tmp_path / "empty.db"))
    assert "0 runs with a finished attempt" in html


def test_export_parquet_and_csv(small_store, tmp_path):
    out = export(small_store, tmp_path / "pq", "parquet")
    assert set(out) == {"runs", "steps", "rates", "first_violation", "cumulative", "completion", "calls_summary",
                        "judgements"}
    steps = pd.read_parquet(out["steps"])
    # a synthetic store checks no completion: every step not_run, no channel, and the table says so
    assert set(steps["completion"]) == {"not_run"} and steps["channel"].isna().all()
    assert pd.read_parquet(out["completion"])["not_run"].sum() == len(steps)
    assert len(steps) == 2 * 2 * 4 * 10 * 12
    assert set(steps["outcome"].astype(str)) <= {"violated", "complied", "not_applicable", "error"}
    assert {"run_id", "model_id", "condition", "context_tokens", "detector"} <= set(steps.columns)
    rates = pd.read_parquet(out["rates"])
    assert rates["violated"].sum() == (steps["outcome"] == "violated").sum()
    calls = pd.read_parquet(out["calls_summary"])
    assert calls["calls"].sum() == len(steps)
    out_csv = export(small_store, tmp_path / "csv", "csv")
    assert len(pd.read_csv(out_csv["first_violation"])) == 160
    with pytest.raises(Exception, match="unknown export format"):
        export(small_store, tmp_path / "x", "xlsx")


def test_cli_report_and_export(small_store, tmp_path):
    from goaldrift.cli import typer_app

    runner = CliRunner()
    res = runner.invoke(typer_app, ["report", "--store", str(small_store), "--out", str(tmp_path / "r.html"),
                                    ])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r.html").stat().st_size > 10_000
    res = runner.invoke(typer_app, ["export", "--store", str(small_store), "--format", "csv", "--out",
                                    str(tmp_path / "ex")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ex" / "steps.csv").exists()
    # a missing store: goaldrift's own error naming the path (not any crash), no store created, nothing written
    from goaldrift.errors import BadInput, GoaldriftError

    missing = tmp_path / "missing.db"
    res = runner.invoke(typer_app, ["report", "--store", str(missing), "--out", str(tmp_path / "x.html")])
    assert isinstance(res.exception, GoaldriftError), res.exception
    assert f"no results store at {missing}" in str(res.exception)
    assert not missing.exists() and not (tmp_path / "x.html").exists()
    # a reference side that is not a side of the pair: a BadInput (exit 2 from the entry point), nothing written
    res = runner.invoke(typer_app, ["report", "--store", str(small_store), "--out", str(tmp_path / "y.html"),
                                    "--reference", "utility-privacy=speed"])
    assert isinstance(res.exception, BadInput) and res.exception.exit_code == 2
    assert "not a side" in str(res.exception) and not (tmp_path / "y.html").exists()


def test_report_shows_completion_beside_violation_and_its_regression_term(small_store, tmp_path):
    """With completion checked (every fourth step failed), each cell's completion row carries the
    completion rate, the violation rate among completed steps and the pooled violation rate side by side,
    and the regression has the ``step + completion`` specification."""
    path = tmp_path / "store.db"
    src, dst = sqlite3.connect(small_store), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.execute("UPDATE steps SET completion = CASE WHEN step % 4 = 0 THEN 'failed' ELSE 'completed' END")
    dst.commit()
    cell = dst.execute(
        """SELECT model_id, scenario_id, condition, AVG(completion = 'completed'),
                  1.0 * SUM(outcome = 'violated' AND completion = 'completed')
                      / SUM(outcome IN ('violated', 'complied') AND completion = 'completed'),
                  1.0 * SUM(outcome = 'violated') / SUM(outcome IN ('violated', 'complied'))
           FROM step_results GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT 1""").fetchone()
    dst.close()
    html = render_report(build_report_data(path))
    table = re.search(r'<table id="completion-table">(.*?)</table>', html, re.DOTALL).group(1)
    row = next(r for r in table.split("<tr>") if all(f">{v}<" in r for v in cell[:3]))
    pcts = re.findall(r"([\d.]+)%", row)  # completion rate [CI], rate among completed, pooled rate
    assert pcts[0] == f"{100 * cell[3]:.1f}" and pcts[3] == f"{100 * cell[4]:.1f}" and pcts[4] == f"{100 * cell[5]:.1f}"
    regression = html[html.index('id="regression"'):html.index('id="agreement"')]
    assert "step + completion" in regression and "not completed" in regression
