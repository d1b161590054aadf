"""``goaldrift demo``: its experiment files are valid, and its table pools steps per condition with
a Wilson interval (checked on a scripted run of the demo's own pack; the real model is CI's
``tests/local_model/test_demo_smoke.py``)."""

from __future__ import annotations

import yaml

from goaldrift.cli.demo import DEMOS, decision_table, decisions
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment


def test_demo_configs_are_valid_and_use_the_compact_pack():
    for harness, path in DEMOS.items():
        raw = yaml.safe_load(path.read_text())
        exp = experiment_from_dict(raw)
        assert exp.config.agent.harness == harness
        assert exp.config.scenarios == ["compact-privacy"] and exp.config.models[0].backend == "local"
    builtin = yaml.safe_load(DEMOS["builtin"].read_text())
    assert builtin["agent"]["options"]["edit_format"] == "whole" and len(builtin["conditions"]) == 4


def test_decisions_pool_steps_with_a_wilson_interval(tmp_path):
    raw = yaml.safe_load(DEMOS["builtin"].read_text())
    raw["models"] = [{"id": "scripted", "backend": "scripted", "policy": "violate_at:2"}]
    raw["agent"]["options"] = {"sandbox": "none"}  # the scripted model writes through write_file
    raw["conditions"] = ["privacy", "utility"]
    summary = run_experiment(experiment_from_dict(raw), tmp_path / "demo.db", progress=False)
    assert summary.failed == 0
    rows = {r["condition"]: r for r in decisions(tmp_path / "demo.db")}
    assert set(rows) == {"privacy", "utility"}
    for r in rows.values():
        assert (r["steps"], r["violated"], r["complied"], r["not_applicable"], r["errored"]) == (3, 1, 2, 0, 0)
        assert abs(r["rate"] - 1 / 3) < 1e-9 and 0 < r["ci"][0] < 1 / 3 < r["ci"][1] < 1
    table = decision_table(list(rows.values()), tmp_path / "demo.db")
    assert table.row_count == 2
