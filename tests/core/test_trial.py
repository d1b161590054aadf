"""``Trial``: one attempt's lifecycle, run on its own (as a benchmark or another executor would)."""

from __future__ import annotations

import asyncio
import errno
import sqlite3

import pytest

from goaldrift.agents.base import StepTrace
from goaldrift.agents.builtin import BuiltinAgent
from goaldrift.errors import AgentError, DiskFull
from goaldrift.experiment import experiment_from_dict, plan
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import create_backend
from goaldrift.outcome import Outcome
from goaldrift.store import Store
from goaldrift.trial import MAX_AGENT_RESTARTS, Trial


def one_spec(mini_pack, condition="utility", policy="violate_at:2"):
    raw = {"name": "t", "models": [{"id": "m", "backend": "scripted", "policy": policy}],
           "scenarios": [str(mini_pack)], "conditions": [condition],
           "agent": {"harness": "builtin", "limits": {"wall_time_s": 60}}}
    exp = experiment_from_dict(raw)
    [spec] = plan(exp)
    return exp, spec


def run_trial(exp, spec, store: Store, **kwargs):
    async def go():
        backend = create_backend(spec.model)
        async with Gateway(recorder=store.record_call) as gateway:
            trial = Trial(spec, store=store, gateway=gateway, backend=backend, workspaces=store.workspaces_dir(),
                          **kwargs)
            try:
                return await trial.run()
            finally:
                await backend.aclose()

    store.upsert_experiment(exp.experiment_id, "t", {}, exp.config_hash, "test", None)
    store.plan_runs(exp.experiment_id, [spec.store_row()])
    return asyncio.run(go())


def test_a_trial_runs_every_step_scores_and_stores_it(mini_pack, tmp_path):
    exp, spec = one_spec(mini_pack, condition="privacy")
    store = Store(tmp_path / "store.db")
    seen = []
    result = run_trial(exp, spec, store, on_step=lambda s, r: seen.append((s.run_id, r.step, r.outcome)))
    assert (result.status, result.steps, result.error) == ("finished", 3, None)
    assert seen == [(spec.run_id, 1, Outcome.COMPLIED), (spec.run_id, 2, Outcome.VIOLATED),
                    (spec.run_id, 3, Outcome.COMPLIED)]
    row = store.db.execute("SELECT status, workspace, info_json FROM attempts WHERE attempt_id=?",
                           (result.attempt_id,)).fetchone()
    assert row["status"] == "finished"
    assert row["workspace"].startswith(str(store.workspaces_dir())) and row["workspace"].endswith("/repo")
    assert (tmp_path / row["workspace"] / "app" / "export_2.py").is_file()
    calls = store.db.execute("SELECT COUNT(*), COUNT(DISTINCT step) FROM model_calls WHERE attempt_id=?",
                             (result.attempt_id,)).fetchone()
    assert calls[0] >= 3 and calls[1] == 3  # every call attributed to its step
    store.close()


def test_an_agent_that_cannot_start_is_a_failed_trial_with_the_reason(mini_pack, tmp_path):
    exp, spec = one_spec(mini_pack)

    class NoStart(BuiltinAgent):
        async def start(self, session):
            raise AgentError("harness binary missing")

    store = Store(tmp_path / "store.db")
    result = run_trial(exp, spec, store, agent_factory=lambda name, options: NoStart(options))
    assert result.status == "failed" and result.steps == 0
    assert spec.run_id in result.error and "harness binary missing" in result.error
    assert store.db.execute("SELECT status, error FROM attempts").fetchone()[:] == ("failed", "harness binary missing")
    assert store.db.execute("SELECT status FROM runs").fetchone()[0] == "failed"
    store.close()


def test_a_crashing_harness_is_restarted_then_given_up_on(mini_pack, tmp_path):
    exp, spec = one_spec(mini_pack)
    starts = []

    class Crashy(BuiltinAgent):
        async def start(self, session):
            starts.append(1)
            await super().start(session)

        async def step(self, index, prompt):
            raise AgentError("server died")

    store = Store(tmp_path / "store.db")
    result = run_trial(exp, spec, store, agent_factory=lambda name, options: Crashy(options))
    # each crashed step is stored as error and the harness restarted, until the restarts run out
    assert result.status == "failed" and "server died" in result.error
    assert len(starts) == 1 + MAX_AGENT_RESTARTS
    rows = store.db.execute("SELECT outcome, error FROM steps ORDER BY step").fetchall()
    assert len(rows) == MAX_AGENT_RESTARTS
    assert all(r[0] == "error" and "agent failed: server died" in r[1] for r in rows)
    store.close()


def test_a_full_disk_for_the_workspace_stops_the_trial_with_one_clear_error(mini_pack, tmp_path, monkeypatch):
    from goaldrift import trial as trial_mod

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(trial_mod.Workspace, "create", no_space)
    exp, spec = one_spec(mini_pack)
    store = Store(tmp_path / "store.db")
    with pytest.raises(DiskFull, match="free some space"):
        run_trial(exp, spec, store)
    store.close()


def test_a_full_disk_for_the_store_keeps_what_was_stored(mini_pack, tmp_path, monkeypatch):
    exp, spec = one_spec(mini_pack)
    store = Store(tmp_path / "store.db")
    real_write = Store.write_step

    def write_then_fill(self, attempt_id, rec):
        if rec.step == 2:  # what SQLite raises when the disk fills mid-transaction
            with self.tx() as db:
                db.execute("INSERT INTO meta VALUES ('x', 'y')")
                raise sqlite3.OperationalError("database or disk is full")
        real_write(self, attempt_id, rec)

    monkeypatch.setattr(Store, "write_step", write_then_fill)
    with pytest.raises(DiskFull, match="the disk is full"):
        run_trial(exp, spec, store)
    assert [r[0] for r in store.db.execute("SELECT step FROM steps")] == [1]
    assert store.db.execute("SELECT COUNT(*) FROM meta WHERE key='x'").fetchone()[0] == 0  # rolled back
    store.close()


def test_an_openai_model_s_real_key_never_reaches_the_agent(mini_pack, tmp_path, monkeypatch):
    """With a real upstream (``openai`` backend) the agent gets the run's gateway token and URL,
    never the key: not as its key, not in its options, its URL or anything else of its session."""
    key = "sk-canary-" + "7" * 24
    monkeypatch.setenv("GD_TEST_REAL_KEY", key)
    raw = {"name": "t", "models": [{"id": "m", "backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                                    "model": "gpt-x", "api_key_env": "GD_TEST_REAL_KEY"}],
           "scenarios": [str(mini_pack)], "conditions": ["utility"], "agent": {"harness": "builtin"}}
    exp = experiment_from_dict(raw)
    [spec] = plan(exp)
    sessions = []

    class Recording(BuiltinAgent):
        async def start(self, session):
            sessions.append(session)

        async def step(self, index, prompt):
            return StepTrace()

        async def stop(self):
            return None

    store = Store(tmp_path / "store.db")
    result = run_trial(exp, spec, store, agent_factory=lambda name, options: Recording(options))
    store.close()
    assert result.status == "finished" and len(sessions) == 1
    session = sessions[0]
    assert session.api_key and session.api_key != key
    assert session.base_url.startswith("http://127.0.0.1:") and "/r/" in session.base_url
    assert key not in repr(session)
