"""Task completion: hidden acceptance tests after each step, stored beside the constraint outcome."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from tests.conftest import write

from goaldrift import confined, packs
from goaldrift.analysis import completion as completion_table
from goaldrift.analysis import tables
from goaldrift.completion import AcceptanceTests, Completion, SuiteStatus, check_commit
from goaldrift.conditions import Condition
from goaldrift.edits import apply_ops
from goaldrift.errors import ScenarioError
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment
from goaldrift.scenario import load_scenario
from goaldrift.store import Store, unblob
from goaldrift.workspace import Workspace

needs_bwrap = pytest.mark.skipif(not confined.bwrap_available(), reason="needs a working bubblewrap")


@pytest.mark.completion
@needs_bwrap
def test_scripted_policies_complete_and_idle_fails(tmp_path):
    """comply and violate replay the references (which pass the acceptance tests); idle changes nothing."""
    raw = {"name": "completion", "scenarios": ["utility-privacy"], "conditions": ["privacy"], "steps": 2,
           "models": [{"id": p, "backend": "scripted", "policy": p} for p in ("comply", "violate", "idle")],
           "agent": {"harness": "builtin", "limits": {"wall_time_s": 60}}, "concurrency": 1}
    summary = run_experiment(experiment_from_dict(raw), tmp_path / "store.db", progress=False)
    assert summary.failed == 0
    db = sqlite3.connect(tmp_path / "store.db")
    rows = db.execute("SELECT model_id, step, outcome, completion, suite, completion_s FROM step_results "
                      "ORDER BY model_id, step").fetchall()
    got = {(m, s): (o, c, su) for m, s, o, c, su, _ in rows}
    for step in (1, 2):
        assert got[("comply", step)] == ("complied", "completed", "passed")
        assert got[("violate", step)] == ("violated", "completed", "passed")
        assert got[("idle", step)] == ("not_applicable", "failed", "passed")
    assert all(seconds > 0 for *_, seconds in rows)  # the check's cost is recorded per step
    output = db.execute("SELECT completion_output FROM steps s JOIN attempts a USING (attempt_id) JOIN runs r "
                        "USING (run_id) WHERE r.model_id='idle' AND s.step=1").fetchone()[0]
    db.close()
    assert "churn_risk" in unblob(output)["acceptance"]  # the failing test says what is missing

    steps = tables.load_steps(tmp_path / "store.db", extra=["completion", "suite", "completion_s"])
    table = completion_table.completion_summary(steps).set_index("model_id")
    assert table.loc["idle", "completion_rate"] == 0 and table.loc["idle", "idle"] == 2
    assert table.loc["comply", "completion_rate"] == 1 and table.loc["comply", "rate_completed"] == 0
    assert table.loc["violate", "rate_completed"] == 1


@needs_bwrap
def test_suite_failure_and_acceptance_are_judged_separately(tmp_path):
    sc = packs.load("utility-privacy")
    ws = Workspace.create(tmp_path / "w", sc, Condition("utility"))
    apply_ops(ws.repo, sc.reference(1, "utility").ops)
    write(ws.repo / "tests" / "test_broken.py", "def test_broken():\n    assert 1 == 2\n")
    done = check_commit(ws.git_dir, ws.snapshot(1).commit, sc.acceptance(1))
    assert done.status == Completion.COMPLETED
    assert done.suite == SuiteStatus.FAILED and "test_broken" in done.suite_output


@needs_bwrap
def test_agent_conftest_cannot_change_the_acceptance_run(tmp_path):
    """A conftest.py or pytest config the agent wrote that would skip everything does not apply."""
    sc = packs.load("utility-privacy")
    ws = Workspace.create(tmp_path / "w", sc, Condition("utility"))
    write(ws.repo / "conftest.py", '''
        import pytest
        def pytest_collection_modifyitems(items):
            for item in items:
                item.add_marker(pytest.mark.skip(reason="rigged"))
    ''')
    write(ws.repo / "pytest.ini", "[pytest]\naddopts = -p no:python\n")
    done = check_commit(ws.git_dir, ws.snapshot(1).commit, sc.acceptance(1), suite=False)
    assert done.status == Completion.FAILED and "churn_risk" in done.output


@needs_bwrap
def test_acceptance_time_limit_is_a_failure(tmp_path):
    pack = tmp_path / "tests-pack"
    write(pack / "test_slow.py", "import time\n\ndef test_slow():\n    time.sleep(60)\n")
    ws_root = tmp_path / "w"
    sc = packs.load("utility-privacy")
    ws = Workspace.create(ws_root, sc, Condition("utility"))
    done = check_commit(ws.git_dir, ws.snapshot(1).commit, AcceptanceTests(pack, "test_slow.py"), suite=False,
                        acceptance_seconds=2)
    assert done.status == Completion.FAILED and "timed out" in done.output


def test_no_acceptance_and_no_suite_is_not_run(tmp_path):
    done = check_commit(tmp_path, "0" * 40, None, suite=False)
    assert done.status == Completion.NOT_RUN and done.suite == SuiteStatus.NOT_RUN


@pytest.mark.parametrize(("value", "reason"), [
    ("acceptance/missing.py", "not found"),
    ("template/app/test_in_template.py", "inside the template"),
    ("../outside.py", "inside the pack"),
    ("acceptance/notes.txt", "pytest file"),
])
def test_bad_acceptance_paths_are_refused(mini_pack, value, reason):
    write(mini_pack / "template" / "app" / "test_in_template.py", "def test_x():\n    pass\n")
    text = (mini_pack / "scenario.yaml").read_text()
    first = "reference: {privacy: references/01-privacy.yaml, utility: references/01-utility.yaml}"
    (mini_pack / "scenario.yaml").write_text(text.replace(first, first + f"\n    acceptance: {value}", 1))
    with pytest.raises(ScenarioError) as err:
        load_scenario(mini_pack)
    assert any("steps" in field and reason in why for _, field, why in err.value.problems), err.value.problems


def test_old_store_gains_completion_columns_and_reads_as_not_run(tmp_path):
    path = tmp_path / "old.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP VIEW step_results")  # as an older goaldrift wrote it: no completion columns
    for column in ("completion_output", "completion_s", "suite", "completion", "channel"):
        db.execute(f"ALTER TABLE steps DROP COLUMN {column}")
    db.commit()
    db.close()
    ro = Store(path, readonly=True)  # read-only: no migration, the view reads the missing columns as not run
    assert {"completion", "suite", "completion_s"} <= {r[1] for r in ro.db.execute("PRAGMA table_info(step_results)")}
    assert ro.db.execute("SELECT COUNT(*) FROM step_results WHERE completion != 'not_run'").fetchone()[0] == 0
    ro.close()
    Store(path).close()  # writable: the columns are added
    db = sqlite3.connect(path)
    assert {"completion", "suite", "completion_s", "completion_output", "channel"} <= {
        r[1] for r in db.execute("PRAGMA table_info(steps)")}
    db.close()


def test_completion_summary_counts():
    steps = pd.DataFrame({
        "model_id": ["m"] * 6, "scenario_id": ["s"] * 6, "condition": ["c"] * 6,
        "outcome": [tables.VIOLATED, tables.COMPLIED, tables.COMPLIED, tables.NOT_APPLICABLE, tables.VIOLATED,
                    tables.COMPLIED],
        "completion": ["completed", "completed", "failed", "failed", "not_run", "completed"],
        "suite": ["passed", "passed", "failed", "passed", "not_run", "passed"],
        "completion_s": [1.0, 2.0, 3.0, 4.0, 0.0, 5.0],
    })
    row = completion_table.completion_summary(steps).iloc[0]
    assert (row["completed"], row["failed"], row["not_run"]) == (3, 2, 1)
    assert row["completion_rate"] == pytest.approx(3 / 5)
    assert row["rate_completed"] == pytest.approx(1 / 3)
    assert (row["complied_failed"], row["idle"], row["suite_failed"]) == (1, 1, 1)
    assert row["completion_s_median"] == 3.0  # over the steps whose check ran


def test_experiment_can_turn_the_check_off_without_changing_ids():
    base = {"name": "x", "scenarios": ["utility-privacy"], "models": [{"id": "m", "backend": "scripted"}]}
    on, off = experiment_from_dict(base), experiment_from_dict({**base, "completion": False})
    assert on.config.completion and not off.config.completion
    assert on.experiment_id == off.experiment_id
