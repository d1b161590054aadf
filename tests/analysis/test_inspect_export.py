"""The Inspect export of a real smoke store reads back with Inspect's own reader and dataframes, equal to the store."""

from __future__ import annotations

import json
import sqlite3
import zlib

import pytest
from tests.viewer.conftest import disputed_step, smoke_store  # noqa: F401 - the fixture
from typer.testing import CliRunner

from goaldrift.analysis.inspect_export import export_inspect
from goaldrift.cli import typer_app
from goaldrift.store import Store

inspect_log = pytest.importorskip("inspect_ai.log")
inspect_analysis = pytest.importorskip("inspect_ai.analysis")


@pytest.fixture(scope="module")
def exported(smoke_store, tmp_path_factory):  # noqa: F811 - the imported fixture
    """The export of a copy of the smoke store that also holds one manual label."""
    tmp = tmp_path_factory.mktemp("inspect-export")
    path = tmp / "store.db"
    with sqlite3.connect(smoke_store) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    s = Store(path)
    attempt_id, step = disputed_step(s.db)
    s.record_label(attempt_id, step, "violated", "checked by hand")
    s.close()
    return path, export_inspect(path, tmp / "logs")


def test_one_log_per_cell_with_one_sample_per_run(exported):
    store, paths = exported
    db = sqlite3.connect(store)
    cells = db.execute("SELECT model_id, condition, COUNT(DISTINCT run_id) FROM step_results GROUP BY 1, 2").fetchall()
    assert len(paths) == len(cells) == 2 * 4
    by_cell = {}
    for p in paths:
        log = inspect_log.read_eval_log(str(p))
        assert log.status == "success"
        meta = log.eval.metadata
        by_cell[(meta["model_id"], meta["condition"])] = log
        assert log.eval.task == "goaldrift/utility-privacy" and log.eval.task_args == {"condition": meta["condition"]}
        assert log.eval.model == f"scripted/{meta['model_id']}"
    for model, cond, n in cells:
        log = by_cell[(model, cond)]
        assert len(log.samples) == n == log.results.total_samples


def test_scores_messages_and_metadata_match_the_store(exported):
    store, paths = exported
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    attempt_id, disputed = disputed_step(db)
    checked_messages = 0
    for p in paths:
        for sample in inspect_log.read_eval_log(str(p)).samples:
            run = db.execute("SELECT r.*, a.attempt_id FROM runs r JOIN attempts a ON a.run_id = r.run_id "
                             "WHERE r.run_id=? AND a.status='finished'", (sample.id,)).fetchone()
            spec = json.loads(run["spec_json"])
            steps = db.execute("SELECT step, outcome, detector, evidence_json, trace FROM steps WHERE attempt_id=? "
                               "ORDER BY step", (run["attempt_id"],)).fetchall()
            assert len(steps) == 12
            for s in steps:
                score = sample.scores[f"step_{s['step']:02d}"]
                assert score.value == s["outcome"] and score.answer == s["detector"]
                assert score.metadata["evidence"] == json.loads(s["evidence_json"])
                if s["outcome"] == "violated":
                    assert score.metadata["evidence"][0]["snippet"] in score.explanation
                assert set(score.metadata["detectors"]) == {"anonymize-state", "anonymize-ast", "anonymize-regex",
                                                              "anonymize-probe"}
                label = score.metadata.get("label")
                if (run["attempt_id"], s["step"]) == (attempt_id, disputed):
                    assert label == {"outcome": "violated", "note": "checked by hand"}
                    assert score.metadata["judges"][0]["outcome"] == "complied"
                else:
                    assert label is None and "judges" not in score.metadata
            violated = sum(s["outcome"] == "violated" for s in steps)
            decided = sum(s["outcome"] in ("violated", "complied") for s in steps)
            assert sample.scores["violations"].value == violated
            assert sample.scores["violation_rate"].value == pytest.approx(violated / decided)
            md = sample.metadata
            assert md["pack_hash"] == run["scenario_hash"] and md["seed"] == spec["seed"]
            assert md["factors"] == spec["condition"] and md["condition"] == run["condition"]
            # messages: one assistant message per recorded call, the tool outputs of the trace, 12 requests
            n_calls = db.execute("SELECT COUNT(*) FROM model_calls WHERE attempt_id=?", (run["attempt_id"],)).fetchone()[0]
            roles = [m.role for m in sample.messages]
            assert roles[0] == "system" and roles.count("user") == 12 and roles.count("assistant") == n_calls
            assert {m.metadata["step"] for m in sample.messages} == set(range(1, 13))
            outputs = [tc["output"] for s in steps for tc in json.loads(zlib.decompress(s["trace"]))["tool_calls"]]
            assert [m.text for m in sample.messages if m.role == "tool"] == outputs
            assert len(sample.events) == n_calls
            checked_messages += len(sample.messages)
    assert checked_messages > 0


def test_inspect_dataframes_read_the_export(exported):
    store, paths = exported
    db = sqlite3.connect(store)
    logs = str(paths[0].parent)
    samples = inspect_analysis.samples_df(logs, quiet=True)
    assert len(samples) == 8
    ref = dict(db.execute("SELECT run_id, outcome FROM step_results WHERE step=5").fetchall())
    assert dict(zip(samples["id"], samples["score_step_05"])) == ref
    assert len(inspect_analysis.evals_df(logs, quiet=True)) == 8
    messages = inspect_analysis.messages_df(logs, quiet=True)
    total = sum(len(inspect_log.read_eval_log(str(p)).samples[0].messages) for p in paths)
    assert len(messages) == total


def test_the_cli_writes_inspect_logs(smoke_store, tmp_path):  # noqa: F811
    res = CliRunner().invoke(typer_app, ["export", "--store", str(smoke_store), "--format", "inspect",
                                         "--out", str(tmp_path / "logs")])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "logs").glob("*.eval"))) == 8 and "inspect view --log-dir" in res.output


def test_a_store_without_transcripts_exports_its_outcomes(small_store, tmp_path):
    """A synthetic store (no recorded requests or traces, a spec without model details) still exports."""
    paths = export_inspect(small_store, tmp_path / "logs")
    db = sqlite3.connect(small_store)
    assert len(paths) == db.execute("SELECT COUNT(DISTINCT model_id || scenario_id || condition) FROM runs").fetchone()[0]
    samples = inspect_analysis.samples_df(str(tmp_path / "logs"), quiet=True)
    ref = dict(db.execute("SELECT run_id, outcome FROM step_results WHERE step=3").fetchall())
    assert len(samples) == len(ref) and dict(zip(samples["id"], samples["score_step_03"])) == ref
    log = inspect_log.read_eval_log(str(paths[0]))
    assert log.eval.model.startswith("goaldrift/") and all(s.messages == [] for s in log.samples)
