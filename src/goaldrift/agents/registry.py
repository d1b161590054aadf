"""Agent harnesses by name. ``create_agent`` is how the runner gets one."""

from __future__ import annotations

from typing import Any

from goaldrift.agents.base import Agent
from goaldrift.errors import ConfigError

HARNESSES = ("builtin", "opencode")


def create_agent(name: str, options: dict[str, Any] | None = None) -> Agent:
    """A new, unstarted agent of harness ``name`` (imports are lazy: OpenCode needs Node, builtin not)."""
    if name == "builtin":
        from goaldrift.agents.builtin import BuiltinAgent

        return BuiltinAgent(options)
    if name == "opencode":
        from goaldrift.agents.opencode import OpenCodeAgent

        return OpenCodeAgent(options)
    raise ConfigError(f"unknown agent harness {name!r}: use one of {', '.join(HARNESSES)}")
