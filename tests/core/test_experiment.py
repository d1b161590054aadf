from pathlib import Path

import pytest
import yaml

from goaldrift.errors import ConfigError
from goaldrift.experiment import experiment_from_dict, load_experiment, plan
from goaldrift.runner import run_experiment


def config(pack: Path, **over):
    base = {"name": "t", "models": [{"id": "m", "backend": "scripted", "policy": "comply"}],
            "scenarios": [str(pack)], "repeats": 2, "agent": {"harness": "builtin"}}
    base.update(over)
    return base


def test_plan_expands_models_scenarios_conditions_repeats(mini_pack):
    exp = experiment_from_dict(config(mini_pack, models=[
        {"id": "a", "backend": "scripted"}, {"id": "b", "backend": "scripted", "policy": "violate"}]))
    specs = plan(exp)
    assert len(specs) == 2 * 4 * 2
    assert len({s.run_id for s in specs}) == len(specs)
    assert {s.n_steps for s in specs} == {3}


def test_run_ids_are_stable_and_adding_repeats_keeps_old_ids(mini_pack):
    first = {s.run_id for s in plan(experiment_from_dict(config(mini_pack)))}
    again = {s.run_id for s in plan(experiment_from_dict(config(mini_pack)))}
    more = {s.run_id for s in plan(experiment_from_dict(config(mini_pack, repeats=3)))}
    assert first == again
    assert first < more and len(more) == 12


def test_changing_the_pack_changes_run_ids(mini_pack):
    before = {s.run_id for s in plan(experiment_from_dict(config(mini_pack)))}
    step = mini_pack / "references" / "01-privacy.yaml"
    step.write_text(step.read_text().replace("export 1", "export one"))
    from goaldrift import packs

    packs._load_cached.cache_clear()
    after = {s.run_id for s in plan(experiment_from_dict(config(mini_pack)))}
    assert before.isdisjoint(after)


@pytest.mark.parametrize("over, needle", [
    ({"repeats": 0}, "repeats"),
    ({"models": [{"id": "m", "backend": "nope"}]}, "backend"),
    ({"scenarios": ["no-such-pack"]}, "unknown scenario"),
    ({"conditions": ["utility->security"]}, "'security' is not a value of this scenario"),
    ({"steps": 99}, "more than scenario"),
    ({"colour": "red"}, "colour"),
])
def test_malformed_experiments_say_what_is_wrong(mini_pack, over, needle):
    with pytest.raises(ConfigError, match=needle):
        experiment_from_dict(config(mini_pack, **over))


def test_load_experiment_reports_yaml_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_experiment(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "missing.yaml")


def test_shipped_experiments_are_valid():
    root = Path(__file__).resolve().parents[2] / "experiments"
    for name in ("smoke.yaml", "paper.yaml"):
        raw = yaml.safe_load((root / name).read_text())
        exp = experiment_from_dict(raw, base=root)
        n = len(plan(exp))
        if name == "paper.yaml":
            assert n == 3 * 3 * 4 * 10  # models × pairs × conditions × repeats
            assert all(len(s.scenario.spec.steps) == 12 for s in plan(exp))
            _follows_the_paper(exp)


def _follows_the_paper(exp) -> None:
    """What docs/paper.md says the paper specified holds for every planned run of paper.yaml."""
    specs = plan(exp)
    assert exp.config.agent.harness == "opencode" and exp.config.completion
    assert {s.scenario.id for s in specs} == {"utility-privacy", "convenience-security", "efficiency-security"}
    for s in specs:
        c = s.condition
        assert (c.placement, c.channel, c.dose, c.onset, c.session) == ("agents_md", "comments", 1.0, 1, "continuous")
        assert c.pressure in (None, s.scenario.other(c.constraint))
    for pack in {s.scenario.id: s.scenario for s in specs}.values():
        x, y = pack.sides
        runs = [s for s in specs if s.scenario.id == pack.id]
        assert {s.condition.name for s in runs} == {x, f"{x}->{y}", y, f"{y}->{x}"}
        assert {s.repeat for s in runs} == set(range(10))


def test_adding_a_model_to_an_experiment_reuses_the_finished_runs(tmp_path):
    """docs/paper.md: a new model is compared by adding it to the experiment and running into the same
    store; the anchors' finished runs are not run again (a run id does not depend on the other models)."""
    base = {"name": "anchor", "scenarios": ["utility-privacy"], "conditions": ["privacy"], "steps": 1,
            "completion": False, "agent": {"harness": "builtin", "limits": {"wall_time_s": 60}},
            "models": [{"id": "anchor", "backend": "scripted", "policy": "comply"}]}
    first = run_experiment(experiment_from_dict(base), tmp_path / "store.db", progress=False)
    assert (first.finished, first.skipped) == (1, 0)
    more = {**base, "models": [*base["models"], {"id": "new", "backend": "scripted", "policy": "violate"}]}
    second = run_experiment(experiment_from_dict(more), tmp_path / "store.db", progress=False)
    assert (second.finished, second.skipped) == (1, 1)


def test_each_repeat_gets_its_own_seed_from_the_models_base_seed(mini_pack):
    raw = config(mini_pack, repeats=3, models=[{"id": "a", "backend": "scripted", "seed": 100},
                                              {"id": "b", "backend": "scripted"}], seed=5)
    seeds = {(s.model.id, s.condition.name, s.repeat): s.seed for s in plan(experiment_from_dict(raw))}
    assert seeds[("a", "utility", 2)] == 102 and seeds[("b", "utility", 0)] == 5


def test_agent_options_are_typed_per_harness_and_only_given_ones_are_hashed(mini_pack):
    from goaldrift.agents.opencode.config import Settings

    exp = experiment_from_dict(config(mini_pack, agent={"harness": "opencode", "options": {"driver": "run"}}))
    assert isinstance(exp.config.agent.options, Settings) and exp.config.agent.options.driver == "run"
    assert exp.config.agent.options.context_limit == 128_000  # a default, typed...
    assert exp.config.model_dump(mode="json")["agent"]["options"] == {"driver": "run"}  # ...but not hashed
    builtin = experiment_from_dict(config(mini_pack))
    assert builtin.config.agent.harness == "builtin" and builtin.config.agent.options.sandbox == "auto"
    with pytest.raises(ConfigError, match="agent.builtin.options.driver"):  # an OpenCode option on builtin
        experiment_from_dict(config(mini_pack, agent={"harness": "builtin", "options": {"driver": "run"}}))
    default = experiment_from_dict({k: v for k, v in config(mini_pack).items() if k != "agent"})
    assert default.config.agent.harness == "opencode"
