"""Experiment files and their expansion into run specs.

An experiment YAML names models, scenarios, conditions (default: the paper's 2×2 per scenario, or
names, optionally crossed with extra ``factors``), repeats and the agent harness — or several
harnesses, to compare them under the same model. ``plan`` expands it to models × harnesses ×
scenarios × conditions × repeats. Each ``RunSpec`` has a stable id: a hash of everything that
determines the run (model entry, scenario id and content hash, condition, repeat index, agent
settings, steps), so rerunning the same file finds the same runs and skips the finished ones, and
adding repeats only adds runs.

Several harnesses are a factor of the design like placement or dose: each run's condition carries its
harness (``utility->privacy@harness=codex``), so every table, the report and the regression keep
harnesses apart without a code path of their own. With one harness the condition carries none, so the
names and run ids of single-harness experiments are what they were. The ``agent`` section is then a
list with one entry per harness, each with its own ``limits`` and typed ``options``
(``agent: [{harness: opencode, options: {...}}, {harness: builtin}]``); ``agent: {harness: [opencode,
builtin], limits: {...}}`` is the short form when no harness needs options.

Loading checks everything that can be checked without running anything, so a bad file is exit 2
before the store or a log file is touched: the YAML's size, depth and expanded node count (a deep
file or an alias bomb is refused, not parsed into a RecursionError or a 200 MB store row), the schema
(the ``agent`` section is a union discriminated on ``harness``, built from the harness registry, so
each harness's options are typed), each model's backend ``params``, base URL and API key variable,
the scenarios, conditions and factors, and the sandbox the agents will need (``probe_sandbox``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    create_model,
    field_serializer,
    field_validator,
    model_validator,
)

from goaldrift import packs, yamlfile
from goaldrift.agents.base import AgentLimits, AgentOptions
from goaldrift.agents.registry import DEFAULT_HARNESS, HARNESSES
from goaldrift.channels import check_channel
from goaldrift.conditions import Condition, cross, paper_conditions, parse_condition
from goaldrift.errors import ConfigError, MissingKey, SandboxUnavailable, validation_problems
from goaldrift.modelspec import ModelSpec
from goaldrift.scenario import Scenario

# Bounds on an experiment file, checked before anything else reads it. Real experiments are a few
# kB and a few levels deep; these leave two orders of magnitude of room.
MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_NODES = 100_000  # counted as expanded: every use of a YAML alias counts again


class HarnessConfig(BaseModel):
    """The ``agent`` section for one harness; each registered harness gets a subclass with its options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    harness: str
    limits: AgentLimits = Field(default_factory=AgentLimits)
    options: AgentOptions

    @field_serializer("options", check_fields=False)
    def _given_options(self, options: AgentOptions) -> dict[str, Any]:
        # Only what the file set: defaults added later must not change run ids of existing stores.
        return options.model_dump(mode="json", exclude_unset=True)


def _agent_variant(name: str, options: type[AgentOptions]) -> Any:
    model = create_model(f"{name}_agent", __base__=HarnessConfig,
                         harness=(Literal[name], name), options=(options, Field(default_factory=options)))
    return Annotated[model, Tag(name)]


def _harness_of(value: Any) -> str:
    return value.get("harness", DEFAULT_HARNESS) if isinstance(value, dict) else getattr(value, "harness", "")


# The ``agent`` section: one variant per registered harness, chosen by ``harness`` (default opencode).
Executor = Literal["local", "ray"]  # where trials run: this process, or a Ray cluster (cluster.py)
AgentConfig = Annotated[
    Union[tuple(_agent_variant(name, h.options) for name, h in HARNESSES.items())],  # noqa: UP007
    Discriminator(_harness_of, custom_error_type="unknown_harness",
                  custom_error_message=f"unknown harness: use one of {', '.join(HARNESSES)}"),
]


def _default_agent() -> HarnessConfig:
    return TypeAdapter(AgentConfig).validate_python({})


def _one_or_several(value: Any) -> str:
    return "several" if isinstance(value, list) else "one"


# ``agent``: one harness's section, or a list of them (the tag never shows in an error: ``_where``).
AgentSection = Annotated[
    Union[Annotated[AgentConfig, Tag("one")], Annotated[list[AgentConfig], Tag("several")]],  # noqa: UP007
    Discriminator(_one_or_several),
]


def _where(loc: str) -> str:
    """An error location without the ``agent`` section's union tag (``agent.opencode.options.x``)."""
    head, _, rest = loc.partition(".")
    tag, _, tail = rest.partition(".")
    return f"{head}.{tail}" if head == "agent" and tag in ("one", "several") and tail else loc


class ExperimentConfig(BaseModel):
    """The schema of an experiment YAML."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    models: list[ModelSpec] = Field(min_length=1)
    scenarios: list[str] = Field(min_length=1, description="pack ids, or pack folders (a relative folder is "
                                 "resolved against the experiment file's folder)")
    conditions: Literal["paper"] | list[str] = "paper"
    factors: dict[str, list[Any]] = Field(default_factory=dict)
    repeats: int = Field(1, ge=1, le=10_000)
    steps: int | None = Field(None, ge=1, description="run only the first N steps of each scenario")
    agent: AgentSection = Field(default_factory=_default_agent)
    concurrency: int = Field(1, ge=1, le=256)
    # How the trials run changes no result: left out of the recorded config and the experiment id.
    executor: Executor = Field("local", exclude=True, description="local (this process) or ray (a Ray "
                               "cluster: `concurrency` runs at once on each node; see docs/scale.md)")
    seed: int = 0
    completion: bool = Field(
        True, exclude=True,  # a measurement, not part of the design: it changes no experiment or run id
        description="after each step, run the pack's acceptance tests and the repository's suite in the "
        "sandbox (goaldrift.completion); false records every step's completion as not_run")

    @field_validator("agent", mode="before")
    @classmethod
    def _harness_list(cls, v: Any) -> Any:
        """``{harness: [a, b], limits: ...}`` → one section per harness; options need the list form.
        An unknown harness is named here (the union's own error cannot say which name it got)."""
        sections = v if isinstance(v, list) else [v]
        for section in sections:
            names = section.get("harness") if isinstance(section, dict) else None
            for name in names if isinstance(names, list) else [names]:
                if isinstance(name, str) and name not in HARNESSES:
                    raise ValueError(f"unknown harness {name!r}: use one of {', '.join(HARNESSES)}")
        if not (isinstance(v, dict) and isinstance(v.get("harness"), list)):
            return v
        if "options" in v:
            raise ValueError("options differ per harness: with several harnesses give one section each, "
                             "e.g. agent: [{harness: opencode, options: {...}}, {harness: builtin}]")
        return [{**v, "harness": h} for h in v["harness"]]

    @field_validator("agent")
    @classmethod
    def _each_harness_once(cls, v: Any) -> Any:
        if isinstance(v, list):
            names = [a.harness for a in v]
            if not names:
                raise ValueError("list at least one harness")
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"each harness once (listed more than once: {', '.join(twice)})")
        return v

    @property
    def agents(self) -> list[HarnessConfig]:
        """The harnesses to run, each with its section (one, unless the experiment compares several)."""
        return list(self.agent) if isinstance(self.agent, list) else [self.agent]

    @field_validator("models")
    @classmethod
    def _unique_models(cls, v: list[ModelSpec]) -> list[ModelSpec]:
        ids = [m.id for m in v]
        if len(set(ids)) != len(ids):
            raise ValueError("model ids must be unique")
        return v

    @model_validator(mode="after")
    def _unique_scenarios(self) -> ExperimentConfig:
        if len(set(self.scenarios)) != len(self.scenarios):
            raise ValueError("scenarios: each scenario once")
        return self


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    model: ModelSpec
    scenario: Scenario
    condition: Condition
    repeat: int
    n_steps: int
    agent: HarnessConfig
    seed: int

    def spec_dict(self) -> dict[str, Any]:
        """Everything that determines the run; its hash is the run id."""
        return {
            "model": self.model.public(),
            "scenario": {"id": self.scenario.id, "hash": self.scenario.digest},
            "condition": self.condition.to_dict(),
            "repeat": self.repeat,
            "n_steps": self.n_steps,
            "agent": self.agent.model_dump(mode="json"),
            "seed": self.seed,
        }

    def store_row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "model_id": self.model.id, "scenario_id": self.scenario.id,
            "condition": self.condition.name, "constraint_side": self.condition.constraint,
            "pressure_side": self.condition.pressure, "placement": self.condition.placement,
            "repeat": self.repeat, "n_steps": self.n_steps, "harness": self.agent.harness,
            "scenario_hash": self.scenario.digest, "spec_json": json.dumps(self.spec_dict(), sort_keys=True),
        }


def canonical_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Experiment:
    config: ExperimentConfig
    path: Path | None
    scenarios: dict[str, Scenario]

    @property
    def config_hash(self) -> str:
        return canonical_hash(self.config.model_dump(mode="json"))

    @property
    def experiment_id(self) -> str:
        return self.config_hash[:16]


def _check_shape(value: Any, source: str) -> None:
    """Refuse a parsed file nested deeper than ``MAX_DEPTH`` or bigger than ``MAX_NODES`` once expanded.

    Iterative, and it stops at the first bound crossed: an alias bomb (a few lines that expand to
    billions of nodes) costs at most ``MAX_NODES`` steps here.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ConfigError(f"{source}: the file expands to more than {MAX_NODES:,} values (YAML aliases "
                              "repeated?): an experiment is a few kB; write it out without aliases")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested more than {MAX_DEPTH} levels deep: an experiment needs a few")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            stack.extend((k, depth + 1) for k in item)
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def load_experiment(path: Path | str) -> Experiment:
    """Read and validate an experiment file and check this machine can run it; every problem becomes a
    ``ConfigError`` (exit code 2)."""
    exp = read_experiment(path)
    check_environment(exp)
    return exp


def read_experiment(path: Path | str) -> Experiment:
    """Read and validate an experiment file without asking about this machine (keys, sandbox): what
    ``goaldrift plan`` needs before the keys are set."""
    path = Path(path)
    try:
        raw = yamlfile.load_file(path, max_bytes=MAX_FILE_BYTES, max_values=MAX_NODES)
    except FileNotFoundError:
        raise ConfigError(f"experiment file {path} not found") from None
    except yamlfile.YamlProblem as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the file must be a YAML mapping with name, models, scenarios...")
    return experiment_from_dict(raw, base=path.parent, source=str(path))


def experiment_from_dict(raw: dict[str, Any], base: Path | None = None, source: str = "<experiment>") -> Experiment:
    _check_shape(raw, source)
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join(f"{source}: {_where(loc)}: {msg}" for loc, msg in validation_problems(exc))
        raise ConfigError("invalid experiment file:\n  " + problems) from None
    for i, m in enumerate(config.models):
        if m.backend == "openai" and not (m.base_url and m.model):
            raise ConfigError(f"{source}: models[{i}] ({m.id}): backend openai needs base_url (e.g. "
                              "https://api.openai.com/v1) and model (the upstream model name)")
    try:
        scenarios = {ref: packs.load(ref, base) for ref in config.scenarios}
    except ConfigError as exc:
        raise ConfigError(f"{source}: scenarios: {exc}") from None
    ids = [s.id for s in scenarios.values()]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: scenarios: the same pack is listed twice ({', '.join(config.scenarios)})")
    exp = Experiment(config, Path(source) if source != "<experiment>" else None, scenarios)
    try:
        plan(exp)  # validates conditions and factors against every scenario
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return exp


def check_environment(exp: Experiment) -> None:
    """What this machine must provide to run ``exp``: the API keys and the sandbox (exit 2 if not).

    Separate from ``experiment_from_dict`` (the file's own validity, the same everywhere);
    ``load_experiment`` and ``run_experiment`` call it before anything is written.
    """
    check_models(exp)
    probe_sandbox(exp)


def check_models(exp: Experiment) -> None:
    """What the schema cannot see: each API key variable is set in this environment. (The backends
    check again when they are created.)"""
    for i, m in enumerate(exp.config.models):
        if m.api_key_env and not os.environ.get(m.api_key_env):
            raise MissingKey(f"{exp.path or '<experiment>'}: models[{i}] ({m.id}): api_key_env: environment "
                             f"variable {m.api_key_env} is not set; export {m.api_key_env}=<your key> and run again")


def probe_sandbox(exp: Experiment) -> None:
    """Check, before anything runs, that the sandbox the agents will use exists on this machine.

    The one place an executor asks about the sandbox at load: ``Sandbox.probe`` of each harness's
    ``sandbox`` option runs the real sandbox once (``auto``/``bwrap`` need a working bubblewrap;
    ``none`` is the explicit opt-out). Raises ``ConfigError`` or ``SandboxUnavailable`` (exit 2).
    """
    from goaldrift.sandbox import Sandbox

    agents = exp.config.agents
    probed: set[str] = set()
    for i, agent in enumerate(agents):
        if agent.options.sandbox in probed:
            continue
        probed.add(agent.options.sandbox)
        try:
            Sandbox.probe(agent.options.sandbox)
        except (ConfigError, SandboxUnavailable) as exc:
            where = (f"{exp.path}: " if exp.path else "") + ("agent" if len(agents) == 1 else f"agent.{i}")
            raise ConfigError(f"{where}.options.sandbox: {exc}") from None


def conditions_for(config: ExperimentConfig, scenario: Scenario, n_steps: int) -> list[Condition]:
    if config.conditions == "paper":
        base = paper_conditions(scenario.sides)
    else:
        base = [parse_condition(name, scenario.sides, n_steps) for name in config.conditions]
    crossed = cross(base, config.factors, n_steps)
    for condition in crossed:
        check_channel(scenario, condition)  # the pack has text for the channel: else exit 2 before running
    return crossed


def plan(exp: Experiment) -> list[RunSpec]:
    """models × harnesses × scenarios × conditions × repeats, in a stable order."""
    config = exp.config
    agents = config.agents
    specs: list[RunSpec] = []
    for model in config.models:
        for agent in agents:
            for ref in config.scenarios:
                scenario = exp.scenarios[ref]
                total = len(scenario.spec.steps)
                if config.steps is not None and config.steps > total:
                    raise ConfigError(f"steps: {config.steps} is more than scenario {scenario.id!r} has ({total})")
                n_steps = config.steps or total
                base_seed = model.seed if model.seed is not None else config.seed
                for condition in conditions_for(config, scenario, n_steps):
                    if len(agents) > 1:  # the harness is a factor of this experiment's design
                        condition = replace(condition, harness=agent.harness)
                    for repeat in range(config.repeats):
                        spec = RunSpec("", model, scenario, condition, repeat, n_steps, agent, base_seed + repeat)
                        specs.append(replace(spec, run_id=canonical_hash(spec.spec_dict())[:16]))
    return specs
