"""``goaldrift plan``: the estimate against what a run really uses, and bad input.

The measured side of each comparison is a real scripted run of a built-in pack: its stored step rows
(prompt tokens, steps) and the size of its workspace on disk. The estimate must land within ±30%.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.core.cli_inprocess import cli

from goaldrift.estimate import HARNESS_COSTS, estimate, runtime_fetch_mb
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment
from goaldrift.store import Store


def _experiment(harness: str, steps: int, **over) -> dict:
    return {"name": "plan-check", "models": [{"id": "m", "backend": "scripted", "policy": "comply"}],
            "scenarios": ["utility-privacy"], "conditions": ["privacy"], "steps": steps,
            "agent": {"harness": harness, "limits": {"wall_time_s": 300, "max_tokens": 10_000_000}}, **over}


# What OpenCode fetches from the npm registry into a workspace at run time when its install does not carry
# the plugin: present or not depending on the registry, so it is left out of the comparison (the
# estimate adds it as runtime_fetch_mb; with the carried plugin it is 0 and these folders hold no files).
RUNTIME_FETCH = ("agent/opencode/home/.npm", "agent/opencode/xdg-config/opencode/node_modules")


def _disk_mb(workspaces: Path) -> float:
    skip = [attempt / part for attempt in workspaces.iterdir() for part in RUNTIME_FETCH]
    return sum(p.stat().st_size for p in workspaces.rglob("*")
               if p.is_file() and not p.is_symlink() and not any(p.is_relative_to(s) for s in skip)) / 1e6


def _check_estimate_against_a_run(harness: str, steps: int, tmp_path: Path) -> None:
    exp = experiment_from_dict(_experiment(harness, steps))
    est = estimate(exp)
    store_path = tmp_path / "store.db"
    summary = run_experiment(exp, store_path, progress=False)
    assert summary.complete, summary.errors
    store = Store(store_path, readonly=True)
    rows = store.db.execute("SELECT tokens_in, model_calls FROM steps").fetchall()
    workspaces = store.workspaces_dir()
    store.close()
    assert est.steps == len(rows) == steps
    measured_tokens = sum(r["tokens_in"] for r in rows)
    assert est.prompt_tokens == pytest.approx(measured_tokens, rel=0.30)
    assert est.model_calls == pytest.approx(sum(r["model_calls"] for r in rows), rel=0.30)
    fetch = runtime_fetch_mb(harness, HARNESS_COSTS[harness])
    assert est.disk_mb_per_workspace - fetch == pytest.approx(_disk_mb(workspaces), rel=0.30)


def test_builtin_estimate_is_within_30_percent_of_a_scripted_run(tmp_path):
    _check_estimate_against_a_run("builtin", 6, tmp_path)


@pytest.mark.opencode
def test_opencode_estimate_is_within_30_percent_of_a_scripted_run(tmp_path):
    from goaldrift.agents.opencode.install import find_opencode

    if find_opencode() is None:
        pytest.skip("OpenCode is not installed (goaldrift install-opencode)")
    _check_estimate_against_a_run("opencode", 4, tmp_path)


def test_opencode_disk_counts_the_npm_fetch_only_without_the_carried_plugin(tmp_path, monkeypatch):
    from tests.opencode.test_opencode_offline import carried_plugin

    exp = experiment_from_dict(_experiment("opencode", 4))
    monkeypatch.setenv("GOALDRIFT_HOME", str(tmp_path / "old"))  # an install without the plugin
    without = estimate(exp).disk_mb_per_workspace
    monkeypatch.setenv("GOALDRIFT_HOME", str(tmp_path / "new"))
    carried_plugin(tmp_path / "new")
    seeded = estimate(exp).disk_mb_per_workspace
    assert without - seeded == pytest.approx(HARNESS_COSTS["opencode"].runtime_fetch_mb) and seeded > 0


def test_tokens_grow_with_the_step_and_fresh_sessions_do_not_accumulate():
    cost = HARNESS_COSTS["builtin"]
    continuous = estimate(experiment_from_dict(_experiment("builtin", 12)))
    fresh = estimate(experiment_from_dict(_experiment("builtin", 12, conditions=["privacy@session=fresh"])))
    factor = cost.pack_factor["utility-privacy"]
    assert continuous.prompt_tokens == round((12 * cost.prompt_tokens_step1 + cost.prompt_tokens_growth * 66) * factor)
    assert fresh.prompt_tokens == round(12 * cost.prompt_tokens_step1 * factor)
    assert continuous.steps == fresh.steps == 12


def test_cost_uses_each_models_price_and_names_models_without_one():
    raw = _experiment("builtin", 2, models=[
        {"id": "paid", "backend": "scripted", "price": {"input": 2.0, "output": 8.0}},
        {"id": "free", "backend": "scripted"}])
    est = estimate(experiment_from_dict(raw))
    cost = HARNESS_COSTS["builtin"]
    prompt = (2 * cost.prompt_tokens_step1 + cost.prompt_tokens_growth) * cost.pack_factor["utility-privacy"]
    completion = 2 * cost.completion_tokens_per_step
    assert est.runs == 2
    assert est.cost_usd == pytest.approx((prompt * 2.0 + completion * 8.0) / 1e6)
    assert est.unpriced_models == ["free"]
    assert estimate(experiment_from_dict(_experiment("builtin", 2))).cost_usd is None


def test_price_changes_no_run_id():
    from goaldrift.experiment import plan

    priced = _experiment("builtin", 2, models=[{"id": "m", "backend": "scripted", "policy": "comply",
                                             "price": {"input": 1, "output": 1}}])
    assert [s.run_id for s in plan(experiment_from_dict(priced))] == \
        [s.run_id for s in plan(experiment_from_dict(_experiment("builtin", 2)))]


def test_plan_cli_json_and_concurrency(tmp_path, monkeypatch, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(_experiment("builtin", 3, repeats=4)))
    monkeypatch.chdir(tmp_path)
    code, stdout, err = cli(monkeypatch, capsys, "plan", str(path), "--json", "-j", "2")
    assert code == 0, err
    out = json.loads(stdout)
    assert (out["runs"], out["steps"], out["concurrency"]) == (4, 12, 2)
    assert out["memory_mb"] == pytest.approx(2 * out["memory_mb_per_run"])
    assert not (tmp_path / "goaldrift-results").exists()  # plan writes nothing


def test_plan_needs_no_api_key(tmp_path, monkeypatch, capsys):
    raw = _experiment("builtin", 2, models=[{"id": "api", "backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                                             "model": "x", "api_key_env": "GOALDRIFT_TEST_UNSET_KEY"}])
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.delenv("GOALDRIFT_TEST_UNSET_KEY", raising=False)
    code, stdout, err = cli(monkeypatch, capsys, "plan", str(path), "--call-latency", "2", "--json")
    assert code == 0, err
    out = json.loads(stdout)
    assert out["model_time_included"] and out["wall_s"] > out["steps"] * 2 * HARNESS_COSTS["builtin"].calls_per_step


@pytest.mark.parametrize("raw, needle", [
    ({"name": "x", "models": [], "scenarios": ["utility-privacy"]}, "models"),
    ({**_experiment("builtin", 2), "models": [{"id": "m", "backend": "scripted", "price": {"input": -1, "output": 1}}]},
     "price"),
    ({**_experiment("builtin", 2), "scenarios": ["no-such-pack"]}, "no-such-pack"),
])
def test_bad_input_is_exit_2_naming_the_field(tmp_path, raw, needle, monkeypatch, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    code, _, err = cli(monkeypatch, capsys, "plan", str(path))
    assert code == 2
    assert needle in err and "Traceback" not in err
