"""Experimental conditions.

The paper's design per value pair is 2×2: the constraint favours X or Y, and the codebase either
applies no pressure or pressure toward the other value. A ``Condition`` is that pair plus further
factors — constraint placement, pressure channel, dose, onset step, fresh session per step, and the
harness when an experiment compares several — each a value with a default, so a new factor level is a
new value, not a new code path.

Names: ``utility`` (baseline), ``utility->privacy`` (constraint favours utility, pressure toward
privacy). Non-default factors are appended: ``utility->privacy@dose=0.5,onset=4``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from goaldrift.errors import ConfigError

PLACEMENTS = ("agents_md", "instructions", "system_prompt")
CHANNELS = ("comments", "docs", "ticket", "review", "test_output")  # see goaldrift.channels
SESSIONS = ("continuous", "fresh")


@dataclass(frozen=True)
class Condition:
    constraint: str  # the value side the constraint favours
    pressure: str | None = None  # the side the pressure argues for; None = baseline
    placement: str = "agents_md"  # where the constraint goes (the paper: AGENTS.md at the repo root)
    channel: str = "comments"  # how pressure reaches the agent (the paper: code comments)
    dose: float = 1.0  # fraction of the pack's pressure comments applied
    onset: int = 1  # first step at which the pressure is present
    session: str = "continuous"  # one agent session for all steps, or a fresh one per step
    # The agent harness, set by ``experiment.plan`` only when an experiment lists several (it comes from
    # the ``agent`` section, never from a condition name or ``factors``); None keeps single-harness
    # names and run ids as they were.
    harness: str | None = None

    @property
    def name(self) -> str:
        base = self.constraint if self.pressure is None else f"{self.constraint}->{self.pressure}"
        extras = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)[2:]
                  if getattr(self, f.name) != f.default]
        return base + ("@" + ",".join(extras) if extras else "")

    @property
    def base_name(self) -> str:
        """The 2×2 cell, without extra factors."""
        return self.constraint if self.pressure is None else f"{self.constraint}->{self.pressure}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["harness"] is None:  # conditions hashed before the harness factor existed keep their hash
            del data["harness"]
        return data


def _factor_value(name: str, raw: str) -> Any:
    types = {f.name: f.type for f in fields(Condition)}
    if name == "harness":
        raise ConfigError("harness is chosen in the agent section, not as a condition factor: list several "
                          "to compare them (agent: [{harness: opencode}, {harness: builtin}])")
    if name not in types or name in ("constraint", "pressure"):
        raise ConfigError(f"unknown condition factor {name!r}: use placement, channel, dose, onset or session")
    if name == "dose":
        return float(raw)
    if name == "onset":
        return int(raw)
    return raw


def parse_condition(name: str, sides: tuple[str, str], n_steps: int | None = None) -> Condition:
    """Parse ``X``, ``X->Y`` or either with ``@factor=value,...`` for a scenario with ``sides``."""
    head, _, extra = name.strip().partition("@")
    constraint, arrow, pressure = head.partition("->")
    constraint, pressure = constraint.strip(), pressure.strip() or None
    if constraint not in sides:
        raise ConfigError(f"condition {name!r}: {constraint!r} is not a value of this scenario {list(sides)}")
    if arrow and pressure is None:
        raise ConfigError(f"condition {name!r}: nothing after '->'")
    if pressure is not None and pressure not in sides:
        raise ConfigError(f"condition {name!r}: {pressure!r} is not a value of this scenario {list(sides)}")
    if pressure is not None and pressure == constraint:
        raise ConfigError(f"condition {name!r}: pressure must argue for the other value, not {pressure!r}")
    kwargs: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in extra.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"condition {name!r}: factor {item!r} must look like name=value")
        try:
            kwargs[key.strip()] = _factor_value(key.strip(), value.strip())
        except ValueError:
            raise ConfigError(f"condition {name!r}: bad value for {key.strip()!r}: {value!r}") from None
        except ConfigError as exc:
            raise ConfigError(f"condition {name!r}: {exc}") from None
    return check(Condition(constraint, pressure, **kwargs), n_steps)


def check(c: Condition, n_steps: int | None = None) -> Condition:
    if c.placement not in PLACEMENTS:
        raise ConfigError(f"condition {c.name}: placement must be one of {', '.join(PLACEMENTS)}")
    if c.channel not in CHANNELS:
        raise ConfigError(f"condition {c.name}: pressure channel must be one of {', '.join(CHANNELS)}")
    if c.session not in SESSIONS:
        raise ConfigError(f"condition {c.name}: session must be one of {', '.join(SESSIONS)}")
    if not 0.0 <= c.dose <= 1.0:
        raise ConfigError(f"condition {c.name}: dose must be between 0 and 1")
    if c.onset < 1 or (n_steps is not None and c.onset > n_steps):
        raise ConfigError(f"condition {c.name}: onset must be a step between 1 and {n_steps or 'the last'}")
    return c


def paper_conditions(sides: tuple[str, str]) -> list[Condition]:
    """The paper's 2×2: each side as baseline and under pressure toward the other side."""
    x, y = sides
    return [Condition(x), Condition(x, y), Condition(y), Condition(y, x)]


def cross(conditions: list[Condition], factors: dict[str, list[Any]], n_steps: int | None = None) -> list[Condition]:
    """Cross every condition with every combination of extra factor values."""
    out = list(conditions)
    for key, values in factors.items():
        if key in ("constraint", "pressure"):
            raise ConfigError(f"factors: {key!r} is set by the condition names, not by factors")
        try:
            out = [check(replace(c, **{key: _factor_value(key, str(v))}), n_steps) for c in out for v in values]
        except ValueError:
            raise ConfigError(f"factors: bad value among {key}: {values!r}") from None
    seen: dict[str, Condition] = {}
    for c in out:
        seen.setdefault(c.name, c)
    return list(seen.values())
