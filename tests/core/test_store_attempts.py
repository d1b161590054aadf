"""An attempt's life in the store: numbering, finishing, aborting, superseding, and which runs are planned.

These are the writes the counted-attempt rule (``counted_attempts``) reads: a wrong status here
would make results count an aborted or replaced attempt, or resume the wrong runs.
"""

from __future__ import annotations

import pytest

from goaldrift.completion import Completion, CompletionResult, SuiteStatus
from goaldrift.step_result import StepResult
from goaldrift.store import Store, unblob


def _run(run_id: str) -> dict:
    return {"run_id": run_id, "model_id": "m", "scenario_id": "pack", "condition": "utility",
            "constraint_side": "utility", "pressure_side": None, "placement": "agents_md", "repeat": 0,
            "n_steps": 1, "harness": "builtin", "scenario_hash": "x", "spec_json": "{}"}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "s.db")
    s.upsert_experiment("e", "e", {}, "h", "0", None)
    s.plan_runs("e", [_run("a"), _run("b")])
    yield s
    s.close()


def _attempts(s: Store) -> dict[int, tuple]:
    return {r["attempt_id"]: (r["run_id"], r["number"], r["status"], r["error"], r["workspace"],
                              r["harness_version"], r["finished_at"] is not None)
            for r in s.db.execute("SELECT * FROM attempts")}


def test_attempts_are_numbered_per_run_and_mark_their_run_running(store):
    a1, n1 = store.start_attempt("a", "/ws/a1", "1.2.3")
    a2, n2 = store.start_attempt("a", "/ws/a2")
    b1, nb = store.start_attempt("b", "/ws/b1")
    assert (n1, n2, nb) == (1, 2, 1) and len({a1, a2, b1}) == 3
    assert _attempts(store)[a1] == ("a", 1, "running", None, "/ws/a1", "1.2.3", False)
    assert _attempts(store)[a2][4:6] == ("/ws/a2", None)
    assert store.run_status(["a", "b"]) == {"a": "running", "b": "running"}


@pytest.mark.parametrize(("status", "run_status"), [("finished", "finished"), ("failed", "failed"),
                                                    ("aborted", "planned")])
def test_finishing_an_attempt_sets_its_run_s_status(store, status, run_status):
    aid, _ = store.start_attempt("a", "")
    other, _ = store.start_attempt("b", "")
    store.finish_attempt(aid, status, "why" if status != "finished" else None)
    assert _attempts(store)[aid] == ("a", 1, status, "why" if status != "finished" else None, "", None, True)
    assert store.run_status(["a", "b"]) == {"a": run_status, "b": "running"}  # only its own run
    assert _attempts(store)[other][2] == "running"


def test_an_attempt_cannot_finish_with_an_unknown_status(store):
    aid, _ = store.start_attempt("a", "")
    with pytest.raises(AssertionError):
        store.finish_attempt(aid, "done")


def test_stale_attempts_are_aborted_with_a_reason_and_their_runs_planned_again(store):
    stale, _ = store.start_attempt("a", "")
    done, _ = store.start_attempt("b", "")
    store.finish_attempt(done, "finished")
    store.db.execute("UPDATE attempts SET error='earlier note' WHERE attempt_id=?", (stale,))
    other_stale, _ = store.start_attempt("b", "")
    assert store.abort_stale_attempts() == 2
    rows = _attempts(store)
    assert rows[stale][2:4] == ("aborted", "earlier note") and rows[stale][6]  # an existing error is kept
    assert rows[other_stale][2:4] == ("aborted", "runner stopped before the run finished")
    assert rows[done][2] == "finished"
    assert store.run_status(["a", "b"]) == {"a": "planned", "b": "planned"}
    assert store.abort_stale_attempts() == 0


def test_superseding_marks_finished_and_failed_attempts_of_that_run_only(store):
    finished, _ = store.start_attempt("a", "")
    store.finish_attempt(finished, "finished")
    failed, _ = store.start_attempt("a", "")
    store.finish_attempt(failed, "failed", "agent failed")
    aborted, _ = store.start_attempt("a", "")
    store.finish_attempt(aborted, "aborted")
    other, _ = store.start_attempt("b", "")
    store.finish_attempt(other, "finished")
    store.write_step(finished, StepResult(step=1, outcome="violated", detector="d"))
    assert store.supersede("a") == 2
    status = {aid: row[2] for aid, row in _attempts(store).items()}
    assert status == {finished: "superseded", failed: "superseded", aborted: "aborted", other: "finished"}
    assert store.run_status(["a", "b"]) == {"a": "planned", "b": "finished"}
    assert store.results() == []  # the superseded attempt's step no longer counts


def test_planning_again_keeps_the_status_of_known_runs(store):
    aid, _ = store.start_attempt("a", "")
    store.finish_attempt(aid, "finished")
    store.plan_runs("e", [_run("a"), _run("c")])
    assert store.run_status(["a", "b", "c", "unknown"]) == {"a": "finished", "b": "planned", "c": "planned"}


def test_run_status_answers_for_more_runs_than_one_query_holds(store):
    ids = [f"r{i:04d}" for i in range(1201)]
    store.plan_runs("e", [_run(i) for i in ids])
    aid, _ = store.start_attempt(ids[-1], "")
    status = store.run_status(ids)
    assert len(status) == 1201 and status[ids[-1]] == "running"
    assert {s for i, s in status.items() if i != ids[-1]} == {"planned"}


def test_a_step_s_completion_and_channel_are_stored_and_read_through_step_results(store):
    aid, _ = store.start_attempt("a", "")
    done = CompletionResult(Completion.FAILED, "1 failed", SuiteStatus.PASSED, "12 passed", 2.5)
    store.write_step(aid, StepResult(step=1, outcome="complied", detector="d", completion=done, channel="file"))
    store.finish_attempt(aid, "finished")
    row = store.db.execute("SELECT completion, suite, completion_s, channel FROM step_results").fetchone()
    assert tuple(row) == ("failed", "passed", 2.5, "file")
    stored = store.db.execute("SELECT completion_output FROM steps WHERE attempt_id=?", (aid,)).fetchone()[0]
    assert unblob(stored) == {"acceptance": "1 failed", "suite": "12 passed"}
