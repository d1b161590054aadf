"""Harness as a factor: an experiment lists several harnesses, the plan crosses them, and the runs,
results, report, export and regression keep them apart; single-harness experiments are unchanged."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.conftest import run_cli

from goaldrift.agents.builtin import BuiltinAgent
from goaldrift.analysis import export, regression, tables
from goaldrift.analysis.orientation import factors
from goaldrift.errors import ConfigError
from goaldrift.experiment import experiment_from_dict, plan
from goaldrift.report import build_report_data
from goaldrift.runner import Runner

OLD_CONDITION_KEYS = {"constraint", "pressure", "placement", "channel", "dose", "onset", "session"}


def config(pack: Path, agent, **over) -> dict:
    return {"name": "harnesses", "models": [{"id": "m", "backend": "scripted", "policy": "violate_at:2"}],
            "scenarios": [str(pack)], "agent": agent, **over}


def test_the_plan_crosses_the_listed_harnesses_and_each_run_carries_its_own(mini_pack):
    agent = [{"harness": "builtin", "limits": {"wall_time_s": 60}},
             {"harness": "opencode", "options": {"driver": "run"}}]
    specs = plan(experiment_from_dict(config(mini_pack, agent)))
    assert len(specs) == 2 * 4 and len({s.run_id for s in specs}) == 8
    by_harness = {h: [s for s in specs if s.agent.harness == h] for h in ("builtin", "opencode")}
    assert [s.condition.name for s in by_harness["builtin"]] == [
        "utility@harness=builtin", "utility->privacy@harness=builtin",
        "privacy@harness=builtin", "privacy->utility@harness=builtin"]
    assert all(s.condition.harness == s.agent.harness for s in specs)
    assert all(s.store_row()["harness"] == s.agent.harness for s in specs)
    assert by_harness["builtin"][0].agent.limits.wall_time_s == 60  # each harness its own section
    assert by_harness["opencode"][0].agent.options.driver == "run"


def test_single_harness_experiments_keep_their_names_and_run_ids(mini_pack):
    single = plan(experiment_from_dict(config(mini_pack, {"harness": "builtin"})))
    listed = plan(experiment_from_dict(config(mini_pack, [{"harness": "builtin"}])))
    assert [s.run_id for s in single] == [s.run_id for s in listed]
    assert [s.condition.name for s in single] == ["utility", "utility->privacy", "privacy", "privacy->utility"]
    assert all(set(s.spec_dict()["condition"]) == OLD_CONDITION_KEYS for s in single)
    two = plan(experiment_from_dict(config(mini_pack, [{"harness": "builtin"}, {"harness": "opencode"}])))
    assert not {s.run_id for s in single} & {s.run_id for s in two}


def test_the_short_form_shares_limits_and_bad_harness_lists_are_exit_2(mini_pack):
    short = experiment_from_dict(config(mini_pack, {"harness": ["builtin", "opencode"], "limits": {"max_tool_calls": 7}}))
    assert [(a.harness, a.limits.max_tool_calls) for a in short.config.agents] == [("builtin", 7), ("opencode", 7)]
    cases = [
        ({"harness": ["builtin", "opencode"], "options": {"sandbox": "none"}}, "options differ per harness"),
        ([{"harness": "builtin"}, {"harness": "builtin"}], "each harness once"),
        ([], "at least one harness"),
        ([{"harness": "builtin"}, {"harness": "claude-cod"}], "unknown harness 'claude-cod': use one of builtin"),
        ([{"harness": "builtin"}, {"harness": "builtin", "options": {"driver": "run"}}], "agent.1.builtin.options.driver"),
        ({"harness": "opencode", "options": {"sandbx": "none"}}, "agent.opencode.options.sandbx"),
    ]
    for agent, needle in cases:
        with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
            experiment_from_dict(config(mini_pack, agent))
    with pytest.raises(ConfigError, match="harness is chosen in the agent section"):
        experiment_from_dict(config(mini_pack, {"harness": "builtin"}, factors={"harness": ["opencode"]}))


def test_plan_names_an_unknown_harness_with_exit_2_and_estimates_a_comparison(mini_pack, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config(mini_pack, [{"harness": "opencode"}, {"harness": "claude-cod"}])))
    done = run_cli("plan", str(bad))
    assert done.returncode == 2 and "unknown harness 'claude-cod'" in done.stderr
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(config(mini_pack, {"harness": ["builtin", "opencode"]})))
    done = run_cli("plan", str(good), "--json")
    assert done.returncode == 0, done.stderr
    est = yaml.safe_load(done.stdout)
    assert est["runs"] == 8 and est["harness"] == "builtin, opencode" and est["unmeasured"] == []


class StandIn(BuiltinAgent):
    """The builtin agent run under another harness's name, so the factor's plumbing (plan, store,
    results, report, export, regression) is checked in seconds; the real OpenCode run is below."""

    async def start(self, session):
        await super().start(dataclasses.replace(session, options={}))


def test_two_harnesses_run_side_by_side_and_every_table_keeps_them_apart(mini_pack, tmp_path):
    exp = experiment_from_dict(config(mini_pack, [{"harness": "builtin"}, {"harness": "opencode"}], concurrency=4))
    store = tmp_path / "store.db"

    def factory(harness, options):
        return BuiltinAgent(options) if harness == "builtin" else StandIn()

    summary = asyncio.run(Runner(exp, store, progress=False, agent_factory=factory).run())
    assert summary.failed == 0 and summary.finished == 8
    runs = tables.load_runs(store).frame
    assert sorted(runs.groupby("harness", observed=True).size().items()) == [("builtin", 4), ("opencode", 4)]
    assert all(str(c).endswith(f"@harness={h}") for c, h in zip(runs["condition"], runs["harness"]))

    data = build_report_data(store)
    cells = data["cells"]
    assert len(cells) == 8 and set(cells["runs"]) == {1}  # one cell per condition × harness, never pooled
    reg = data["regression"]
    assert set(reg["harness"]) == {"builtin", "opencode"}
    fitted = reg[reg["scenario_id"] == "mini"]
    assert set(fitted["n_runs"]) == {4}  # each fit sees its harness's 4 runs, not all 8
    pairs = [row.comparison.split(" vs ") for row in data["logrank"].itertuples() if " vs " in row.comparison]
    assert len(pairs) == 2 * 3  # per harness: two pressure conditions against their baselines, the two baselines
    assert all(factors(a)["harness"] == factors(b)["harness"] for a, b in pairs)  # never across harnesses

    written = export.export(store, tmp_path / "out", fmt="csv")
    steps = pd.read_csv(written["steps"])
    assert sorted(steps.groupby("harness").size().items()) == [("builtin", 12), ("opencode", 12)]
    assert regression.COLUMNS[:2] == ["model_id", "harness"]


@pytest.mark.opencode
def test_builtin_and_real_opencode_under_one_scripted_model(mini_pack, tmp_path):
    """The comparison the factor is for: the same scripted model through both harnesses."""
    raw = config(mini_pack, [{"harness": "builtin"}, {"harness": "opencode"}], conditions=["privacy->utility"],
                 steps=2)
    raw["models"][0]["policy"] = "violate_at:2"
    store = tmp_path / "store.db"
    summary = asyncio.run(Runner(experiment_from_dict(raw), store, progress=False).run())
    assert summary.failed == 0 and summary.finished == 2, summary.errors
    steps = tables.load_steps(store, run_columns=("condition",))
    got = {(str(c), int(s)): tables.OUTCOMES[o] for c, s, o in zip(steps["condition"], steps["step"], steps["outcome"])}
    for harness in ("builtin", "opencode"):
        cond = f"privacy->utility@harness={harness}"
        assert (got[(cond, 1)], got[(cond, 2)]) == ("complied", "violated"), got


def test_the_shipped_harness_comparison_plans_or_names_the_missing_drivers():
    from goaldrift.agents.registry import HARNESSES

    root = Path(__file__).resolve().parents[2] / "experiments"
    raw = yaml.safe_load((root / "harnesses.yaml").read_text())
    listed = raw["agent"]["harness"]
    assert {"opencode", "claude-code", "codex", "qwen-code", "builtin"} == set(listed)
    missing = [h for h in listed if h not in HARNESSES]
    if missing:  # before the drivers are merged: exit 2 naming the first one
        with pytest.raises(ConfigError, match=f"unknown harness '{missing[0]}'"):
            experiment_from_dict(raw, base=root)
        return
    specs = plan(experiment_from_dict(raw, base=root))
    assert len(specs) == 5 * 4 * 10 and {s.model.id for s in specs} == {"claude-haiku-4.5"}
    assert {s.agent.harness for s in specs} == set(listed)


def test_a_comparison_is_estimated_run_by_run_with_each_harness_constants(mini_pack, monkeypatch):
    from goaldrift import estimate as est_mod

    def est(agent):
        return est_mod.estimate(experiment_from_dict(config(mini_pack, agent)))

    both, builtin, opencode = est({"harness": ["builtin", "opencode"]}), est({"harness": "builtin"}), \
        est({"harness": "opencode"})
    for field in ("runs", "steps", "model_calls", "prompt_tokens", "completion_tokens"):
        assert abs(getattr(both, field) - getattr(builtin, field) - getattr(opencode, field)) <= 1, field  # rounding
    assert both.memory_mb_per_run == opencode.memory_mb_per_run > builtin.memory_mb_per_run
    monkeypatch.delitem(est_mod.HARNESS_COSTS, "builtin")  # a harness nobody measured yet
    stand_in = est({"harness": ["builtin", "opencode"]})
    assert stand_in.unmeasured == ["builtin"] and stand_in.prompt_tokens == 2 * opencode.prompt_tokens
