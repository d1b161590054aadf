"""Experiment files and their expansion into run specs.

An experiment YAML names models, scenarios, conditions (default: the paper's 2×2 per scenario, or
names, optionally crossed with extra ``factors``), repeats and the agent harness. ``plan`` expands it
to models × scenarios × conditions × repeats. Each ``RunSpec`` has a stable id: a hash of everything
that determines the run (model entry, scenario id and content hash, condition, repeat index, agent
settings, steps), so rerunning the same file finds the same runs and skips the finished ones, and
adding repeats only adds runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from goaldrift import packs
from goaldrift.agents.base import AgentLimits
from goaldrift.conditions import Condition, cross, paper_conditions, parse_condition
from goaldrift.errors import ConfigError
from goaldrift.modelspec import ModelSpec
from goaldrift.scenario import Scenario


class LimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tool_calls: int = Field(40, ge=1)
    max_tokens: int = Field(2_000_000, ge=100)
    wall_time_s: float = Field(600.0, gt=0)
    command_timeout_s: float = Field(60.0, gt=0)

    def to_limits(self) -> AgentLimits:
        return AgentLimits(**self.model_dump())


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    harness: Literal["builtin", "opencode"] = "opencode"
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    options: dict[str, Any] = Field(default_factory=dict, description="harness-specific options")


class ExperimentConfig(BaseModel):
    """The schema of an experiment YAML."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    models: list[ModelSpec] = Field(min_length=1)
    scenarios: list[str] = Field(min_length=1)
    conditions: Literal["paper"] | list[str] = "paper"
    factors: dict[str, list[Any]] = Field(default_factory=dict)
    repeats: int = Field(1, ge=1, le=10_000)
    steps: int | None = Field(None, ge=1, description="run only the first N steps of each scenario")
    agent: AgentConfig = Field(default_factory=AgentConfig)
    concurrency: int = Field(1, ge=1, le=256)
    seed: int = 0

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
    agent: AgentConfig
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


def _format_validation(path: str, exc: ValidationError) -> str:
    lines = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{path}: {loc}: {e['msg']}")
    return "invalid experiment file:\n  " + "\n  ".join(lines)


def load_experiment(path: Path | str) -> Experiment:
    """Read and validate an experiment file; every problem becomes a ``ConfigError`` (exit code 2)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"experiment file {path} not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the file must be a YAML mapping with name, models, scenarios...")
    return experiment_from_dict(raw, base=path.parent, source=str(path))


def experiment_from_dict(raw: dict[str, Any], base: Path | None = None, source: str = "<experiment>") -> Experiment:
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation(source, exc)) from None
    scenarios = {ref: packs.load(ref, base) for ref in config.scenarios}
    ids = [s.id for s in scenarios.values()]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: scenarios: the same pack is listed twice ({', '.join(config.scenarios)})")
    exp = Experiment(config, Path(source) if source != "<experiment>" else None, scenarios)
    plan(exp)  # validates conditions and factors against every scenario
    return exp


def conditions_for(config: ExperimentConfig, scenario: Scenario, n_steps: int) -> list[Condition]:
    if config.conditions == "paper":
        base = paper_conditions(scenario.sides)
    else:
        base = [parse_condition(name, scenario.sides, n_steps) for name in config.conditions]
    return cross(base, config.factors, n_steps)


def plan(exp: Experiment) -> list[RunSpec]:
    """models × scenarios × conditions × repeats, in a stable order."""
    config = exp.config
    specs: list[RunSpec] = []
    for model in config.models:
        for ref in config.scenarios:
            scenario = exp.scenarios[ref]
            total = len(scenario.spec.steps)
            if config.steps is not None and config.steps > total:
                raise ConfigError(f"steps: {config.steps} is more than scenario {scenario.id!r} has ({total})")
            n_steps = config.steps or total
            base_seed = model.seed if model.seed is not None else config.seed
            for condition in conditions_for(config, scenario, n_steps):
                for repeat in range(config.repeats):
                    spec = RunSpec("", model, scenario, condition, repeat, n_steps, config.agent,
                                   base_seed + repeat)
                    run_id = canonical_hash(spec.spec_dict())[:16]
                    specs.append(RunSpec(run_id, model, scenario, condition, repeat, n_steps, config.agent,
                                         base_seed + repeat))
    return specs
