"""End to end with the scripted model: outcomes at the right steps, resume, kill -9, bad input."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment
from goaldrift.store import Store
from tests.conftest import BUILTIN_PACKS, run_cli

POLICIES = {"comply": lambda s: False, "violate": lambda s: True, "violate_from:5": lambda s: s >= 5}


def experiment(scenarios, models, **over):
    # A generous step limit: these tests assert exact outcomes, and on a loaded 2-core machine four
    # concurrent runs can take far longer per step than the scripted model itself needs.
    raw = {"name": "t", "models": models, "scenarios": scenarios, "repeats": 1,
           "agent": {"harness": "builtin", "limits": {"wall_time_s": 600}}, "concurrency": 4,
           "completion": False, **over}  # task completion is tested in test_completion.py
    return raw


def outcomes(store: Path) -> dict[tuple[str, str, str], list[str]]:
    db = sqlite3.connect(store)
    rows = db.execute("SELECT model_id, scenario_id, condition, step, outcome FROM step_results "
                      "ORDER BY model_id, scenario_id, condition, step").fetchall()
    db.close()
    out: dict[tuple[str, str, str], list[str]] = {}
    for model, scenario, condition, _step, outcome in rows:
        out.setdefault((model, scenario, condition), []).append(outcome)
    return out


@pytest.mark.parametrize("pack", BUILTIN_PACKS)
def test_full_2x2_classifies_every_policy_at_the_right_steps(pack, tmp_path):
    models = [{"id": p.replace(":", "-"), "backend": "scripted", "policy": p} for p in POLICIES]
    exp = experiment_from_dict(experiment([pack], models))
    summary = run_experiment(exp, tmp_path / "store.db", progress=False)
    assert summary.failed == 0 and summary.finished == 3 * 4
    got = outcomes(tmp_path / "store.db")
    assert len(got) == 3 * 4
    for (model, _scenario, condition), steps in got.items():
        assert len(steps) == 12, (model, condition)
        policy = next(p for p in POLICIES if p.replace(":", "-") == model)
        expected = ["violated" if POLICIES[policy](s) else "complied" for s in range(1, 13)]
        assert steps == expected, (model, condition, steps)


def test_rerun_skips_finished_runs_and_evidence_is_stored(mini_pack, tmp_path):
    store = tmp_path / "store.db"
    raw = experiment([str(mini_pack)], [{"id": "v", "backend": "scripted", "policy": "violate_at:2"}])
    first = run_experiment(experiment_from_dict(raw), store, progress=False)
    again = run_experiment(experiment_from_dict(raw), store, progress=False)
    assert (first.finished, again.finished, again.skipped) == (4, 0, 4)
    s = Store(store, readonly=True)
    row = s.db.execute("SELECT evidence_json, detectors_json, diff FROM steps s JOIN attempts a USING(attempt_id) "
                       "JOIN runs r USING(run_id) WHERE r.condition='privacy' AND s.step=2").fetchone()
    import json

    evidence = json.loads(row["evidence_json"])
    assert evidence[0]["file"] == "app/export_2.py" and "anonymize=False" in evidence[0]["snippet"]
    assert {d["detector"] for d in json.loads(row["detectors_json"])} == {"anon-ast", "anon-regex"}
    assert s.db.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 4 * 3
    assert s.db.execute("SELECT COUNT(*) FROM model_calls").fetchone()[0] > 0


def test_pressure_and_constraint_land_in_the_workspace(mini_pack, tmp_path):
    raw = experiment([str(mini_pack)], [{"id": "c", "backend": "scripted"}],
                     conditions=["utility->privacy", "privacy@placement=instructions"])
    run_experiment(experiment_from_dict(raw), tmp_path / "store.db", progress=False)
    db = sqlite3.connect(tmp_path / "store.db")
    repos = [Path(w) for (w,) in db.execute("SELECT workspace FROM attempts")]
    db.close()
    assert len(repos) == 2 and all(r.is_dir() for r in repos)
    texts = {}
    for repo in repos:
        texts[(repo / "AGENTS.md").read_text()] = (repo / "app" / "exporting.py").read_text()
    with_constraint = [t for t in texts if "anonymize=False" in t]
    assert len(with_constraint) == 1
    assert "PRIVACY MATTERS" in texts[with_constraint[0]]
    other = next(t for t in texts if t not in with_constraint)
    assert "anonymize=True" not in other and "PRIVACY MATTERS" not in texts[other]
    assert not any((r / ".git").exists() for r in repos)


def test_kill_9_then_rerun_ends_with_exactly_the_planned_steps(tmp_path):
    # 12 runs (3 packs x 4 conditions) of 3 steps: enough for runs finished, running and not started at
    # the kill; the pack's full length (12 steps) and repeats 2 cost 8x the time and showed nothing more.
    runs, steps = 12, 3
    exp_file = tmp_path / "exp.yaml"
    raw = experiment(BUILTIN_PACKS, [{"id": "d", "backend": "scripted", "policy": "violate_from:2"}],
                     steps=steps, concurrency=2)
    exp_file.write_text(yaml.safe_dump(raw))
    store = tmp_path / "store.db"
    cmd = [sys.executable, "-m", "goaldrift", "run", str(exp_file), "--store", str(store), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once some steps are stored but runs are still going
        time.sleep(0.2)
        if store.exists():
            try:
                n = sqlite3.connect(store).execute("SELECT COUNT(*) FROM steps").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if n >= 10:
                break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    db = sqlite3.connect(store)
    finished_before = db.execute("SELECT COUNT(*) FROM attempts WHERE status='finished'").fetchone()[0]
    assert finished_before < runs, "the runner finished before it was killed; kill it earlier"
    running = db.execute("SELECT COUNT(*) FROM attempts WHERE status='running'").fetchone()[0]
    assert running >= 1
    db.close()

    done = run_cli("run", str(exp_file), "--store", str(store), "--no-progress")
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(store)
    assert db.execute("SELECT COUNT(*) FROM step_results").fetchone()[0] == runs * steps
    assert db.execute("SELECT COUNT(DISTINCT run_id) FROM step_results").fetchone()[0] == runs
    dupes = db.execute("SELECT COUNT(*) FROM (SELECT run_id, step FROM step_results GROUP BY run_id, step "
                       "HAVING COUNT(*) > 1)").fetchone()[0]
    assert dupes == 0
    assert db.execute("SELECT COUNT(*) FROM attempts WHERE status='aborted'").fetchone()[0] == running
    assert db.execute("SELECT COUNT(*) FROM attempts WHERE status='finished'").fetchone()[0] == runs


def snapshot_rows(store: Path) -> list:
    db = sqlite3.connect(store)
    rows = [db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in ("runs", "attempts", "steps")]
    db.close()
    return rows


@pytest.fixture
def filled_store(mini_pack, tmp_path):
    store = tmp_path / "store.db"
    raw = experiment([str(mini_pack)], [{"id": "c", "backend": "scripted"}])
    run_experiment(experiment_from_dict(raw), store, progress=False)
    return store


@pytest.mark.parametrize("case", ["malformed", "unknown_backend", "missing_key", "bad_scenario", "no_file"])
def test_bad_input_exits_2_with_a_clear_message_and_keeps_the_store(case, filled_store, mini_pack, tmp_path):
    before = snapshot_rows(filled_store)
    exp_file = tmp_path / "bad.yaml"
    models = [{"id": "c", "backend": "scripted"}]
    scenarios = [str(mini_pack)]
    needle = {"malformed": "repeats", "unknown_backend": "backend", "missing_key": "GD_NOT_SET_KEY",
              "bad_scenario": "scenario.yaml", "no_file": "not found"}[case]
    if case == "unknown_backend":
        models = [{"id": "x", "backend": "anthropic-magic"}]
    if case == "missing_key":
        models = [{"id": "x", "backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                   "api_key_env": "GD_NOT_SET_KEY"}]
    if case == "bad_scenario":
        broken = tmp_path / "broken"
        (broken / "template").mkdir(parents=True)
        (broken / "scenario.yaml").write_text("id: Broken Pack\nvalues: []\n")
        scenarios = [str(broken)]
    raw = experiment(scenarios, models, repeats=0 if case == "malformed" else 1)
    if case != "no_file":
        exp_file.write_text(yaml.safe_dump(raw))
    env = {k: v for k, v in os.environ.items() if k != "GD_NOT_SET_KEY"}
    result = run_cli("run", str(exp_file), "--store", str(filled_store), env=env)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot_rows(filled_store) == before


def test_a_relative_store_path_works(mini_pack, tmp_path):
    exp_file = tmp_path / "exp.yaml"
    exp_file.write_text(yaml.safe_dump(experiment([str(mini_pack)], [{"id": "c", "backend": "scripted"}],
                                                  conditions=["utility"])))
    done = run_cli("run", "exp.yaml", "--store", "results/store.db", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert len(outcomes(tmp_path / "results" / "store.db")[("c", "mini", "utility")]) == 3


def test_status_and_results_cli(filled_store):
    status = run_cli("status", "--store", str(filled_store), "--json")
    assert status.returncode == 0
    import json

    data = json.loads(status.stdout)
    assert data["runs"] == {"finished": 4} and data["finished_steps"] == 12
    results = json.loads(run_cli("results", "--store", str(filled_store), "--json").stdout)
    assert len(results) == 4 * 3
    assert all(r["violated"] == 0 and r["rate"] == 0 for r in results)
    missing = run_cli("results", "--store", str(filled_store.parent / "nope.db"))
    assert missing.returncode == 2 and "no results store" in missing.stderr  # bad input


def test_the_agent_cannot_hide_changes_with_gitignore_or_gitattributes(mini_pack, tmp_path):
    from goaldrift import packs
    from goaldrift.conditions import Condition
    from goaldrift.workspace import Workspace

    ws = Workspace.create(tmp_path / "w", packs.load(str(mini_pack)), Condition("privacy"))
    (ws.repo / ".gitignore").write_text("hidden.py\n")
    (ws.repo / ".gitattributes").write_text("* -diff\n")
    (ws.repo / "hidden.py").write_text("export_records(rows, anonymize=False)\n")
    diff = ws.snapshot(1).diff
    assert "+export_records(rows, anonymize=False)" in diff and "Binary files" not in diff


def test_one_broken_run_is_recorded_as_failed_and_the_others_finish(mini_pack, tmp_path):
    from goaldrift.agents.builtin import BuiltinAgent
    from goaldrift.runner import Runner

    class Buggy(BuiltinAgent):
        async def step(self, index, prompt):
            if "anonymize=True" in (self.session.workspace / "AGENTS.md").read_text() and index == 2:
                raise KeyError("a harness bug")
            return await super().step(index, prompt)

    import asyncio

    raw = experiment([str(mini_pack)], [{"id": "c", "backend": "scripted"}])
    runner = Runner(experiment_from_dict(raw), tmp_path / "store.db", progress=False,
                    agent_factory=lambda name, options: Buggy(options))
    summary = asyncio.run(runner.run())
    assert (summary.finished, summary.failed) == (2, 2)
    assert all("KeyError" in e for e in summary.errors)
    db = sqlite3.connect(tmp_path / "store.db")
    assert db.execute("SELECT COUNT(*) FROM attempts WHERE status='failed'").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM attempts WHERE status='running'").fetchone()[0] == 0


def test_more_malformed_experiments(mini_pack):
    from goaldrift.errors import ConfigError

    models = [{"id": "c", "backend": "scripted"}]
    with pytest.raises(ConfigError, match="bad value"):
        experiment_from_dict(experiment([str(mini_pack)], models, factors={"onset": ["two"]}))
    with pytest.raises(ConfigError, match="listed twice"):
        experiment_from_dict(experiment([str(mini_pack), str(mini_pack) + "/."], models))


def test_two_stores_in_one_folder_and_a_store_deleted_to_start_over(mini_pack, tmp_path):
    raw = experiment([str(mini_pack)], [{"id": "c", "backend": "scripted"}], conditions=["utility"])
    exp = experiment_from_dict(raw)
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for store in (a, b):  # the same experiment, so the same run ids, in two stores side by side
        summary = run_experiment(exp, store, progress=False)
        assert (summary.finished, summary.failed) == (1, 0), summary.errors
    workspaces = {}
    for store in (a, b):
        s = Store(store, readonly=True)
        [(ws,)] = s.db.execute("SELECT workspace FROM attempts").fetchall()
        workspaces[store] = Path(ws)
        s.close()
    assert workspaces[a] != workspaces[b] and all(w.is_dir() for w in workspaces.values())

    a.unlink()  # "delete the store to start over": its old workspaces stay on disk
    again = run_experiment(exp, a, progress=False)
    assert (again.finished, again.failed, again.skipped) == (1, 0, 0), again.errors
    assert workspaces[a].is_dir()  # the old workspace is untouched, the new attempt has its own


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (needs root and mount; skipped elsewhere)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True,
                      check=False).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_is_one_clear_error_and_keeps_what_was_stored(small_disk, tmp_path):
    exp_file = tmp_path / "exp.yaml"
    exp_file.write_text(yaml.safe_dump(experiment(["utility-privacy"], [{"id": "s", "backend": "scripted",
                                                                           "policy": "violate_from:3"}],
                                                  conditions=["privacy"], repeats=6, concurrency=2)))
    store = small_disk / "store.db"
    done = run_cli("run", str(exp_file), "--store", str(store), "--no-progress")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("error:") == 1
    assert "free some space" in " ".join(done.stderr.split())
    db = sqlite3.connect(store)
    stored = db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    assert stored > 0  # the steps stored before the disk filled are all still there
