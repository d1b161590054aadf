"""``goaldrift detect``, ``detectors score`` and ``rescore`` through the real CLI entry point."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from detect_support import GitRepo

from goaldrift import confined, packs
from goaldrift.conditions import Condition
from goaldrift.edits import apply_ops
from goaldrift.step_result import StepResult
from goaldrift.store import Store
from goaldrift.workspace import Workspace

EXPORT = "from analytics.exporting import export_records\n\n\ndef build(conn, as_of):\n" \
         "    return export_records([], anonymize={})\n"


def cli(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "goaldrift", *args], capture_output=True, text=True, timeout=300,
                          check=False)
    proc.stderr = " ".join(proc.stderr.split())  # rich wraps long messages
    return proc


def test_detect_scores_a_change_for_both_sides(repo: GitRepo) -> None:
    repo.step({"analytics/exports/a.py": EXPORT.format("True")})
    repo.step({"analytics/exports/a.py": EXPORT.format("False")})
    proc = cli("detect", "utility-privacy", "--repo", str(repo.root), "--base", "HEAD~1", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["outcomes"]["privacy"]["outcome"] == "violated"
    assert out["outcomes"]["utility"]["outcome"] == "complied"
    assert out["outcomes"]["privacy"]["evidence"][0]["file"] == "analytics/exports/a.py"
    assert {r["detector"] for r in out["detectors"]["privacy"]} == {"anonymize-state", "anonymize-probe", "anonymize-ast",
                                                                   "anonymize-regex"}


def test_detect_bad_input_exits_2(repo: GitRepo) -> None:
    repo.step({"a.py": "x = 1\n"})
    proc = cli("detect", "utility-privacy", "--repo", str(repo.root), "--base", "HEAD", "--side", "nope")
    assert proc.returncode == 2 and "--side 'nope'" in proc.stderr
    proc = cli("detect", "utility-privacy", "--repo", str(repo.root), "--base", "no-such-rev")
    assert proc.returncode == 2 and "rev-parse" in proc.stderr


def test_score_without_corpus_folder_exits_2(tmp_path: Path) -> None:
    proc = cli("detectors", "score", "--corpus", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "not a folder" in proc.stderr


def test_rescore_records_new_verdicts_beside_the_old(tmp_path: Path) -> None:
    scenario = packs.load("utility-privacy")
    ws = Workspace.create(tmp_path / "a1", scenario, Condition("privacy"))
    apply_ops(ws.repo, scenario.reference(1, "utility").ops)
    snap = ws.snapshot(1)
    store = Store(tmp_path / "store.db")
    store.upsert_experiment("e", "e", {}, "h", "0", None)
    store.plan_runs("e", [{"run_id": "r1", "model_id": "m", "scenario_id": "utility-privacy", "condition": "privacy",
                           "constraint_side": "privacy", "pressure_side": None, "placement": "agents_md",
                           "repeat": 1, "n_steps": 1, "harness": "builtin", "scenario_hash": "x",
                           "spec_json": "{}"}])
    attempt, _ = store.start_attempt("r1", workspace=str(ws.repo))
    store.set_attempt_info(attempt, {"workspace": str(ws.repo)})
    store.write_step(attempt, StepResult(step=1, outcome="complied", detector="old", commit_sha=snap.commit))
    store.close()
    proc = cli("rescore", "--store", str(tmp_path / "store.db"))
    assert proc.returncode == 0, proc.stderr
    assert "rescored 1 step(s); 1 changed outcome" in proc.stdout
    db = sqlite3.connect(tmp_path / "store.db")
    assert db.execute("SELECT outcome FROM steps").fetchall() == [("complied",)]  # the old verdict is kept
    assert db.execute("SELECT outcome, detector FROM rescores").fetchall() == [("violated", "anonymize-probe")]  # the probe decided
    assert db.execute("SELECT completion, suite FROM rescores").fetchall() == [(None, None)]
    assert "completion not re-checked (add --completion)" in proc.stdout
    db.close()
    # with --completion, today's acceptance tests and suite run on the stored commit (the step was
    # stored as not run): completed, and the rows of the first rescore are kept
    proc = cli("rescore", "--store", str(tmp_path / "store.db"), "--completion")
    assert proc.returncode == 0, proc.stderr
    db = sqlite3.connect(tmp_path / "store.db")
    rows = db.execute("SELECT completion, suite, completion_output FROM rescores ORDER BY scored_at").fetchall()
    if not confined.bwrap_available():  # nothing of the agent's runs on the host
        assert rows[1][:2] == ("not_run", "not_run") and "bubblewrap" in rows[1][2]
        return
    assert [r[:2] for r in rows] == [(None, None), ("completed", "passed")], rows
    assert "1 changed completion" in proc.stdout
