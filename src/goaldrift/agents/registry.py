"""Agent harnesses by name: each one's options model and its ``Agent`` class.

Adding a harness is: implement ``Agent`` (agents/base.py), declare its options as a subclass of
``AgentOptions``, and add one line to ``HARNESSES``. The experiment schema builds its ``agent``
section from this table (a union discriminated on ``harness``), so the new harness's options are
validated when an experiment loads, and ``create_agent`` is how a trial gets one.

The agent class is named as ``module:Class`` and imported only when an agent is created: loading an
experiment needs the options models, not the harnesses' machinery.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from goaldrift.agents.base import Agent, AgentOptions
from goaldrift.agents.builtin_options import BuiltinOptions
from goaldrift.agents.claude_code.options import ClaudeCodeOptions
from goaldrift.agents.codex.options import CodexOptions
from goaldrift.agents.opencode.config import Settings as OpenCodeOptions
from goaldrift.agents.qwen_code.options import QwenCodeOptions
from goaldrift.errors import ConfigError


@dataclass(frozen=True)
class Harness:
    options: type[AgentOptions]
    agent: str  # "module:Class"; the class takes the options as a dict


HARNESSES: dict[str, Harness] = {
    "builtin": Harness(BuiltinOptions, "goaldrift.agents.builtin:BuiltinAgent"),
    "opencode": Harness(OpenCodeOptions, "goaldrift.agents.opencode:OpenCodeAgent"),
    "claude-code": Harness(ClaudeCodeOptions, "goaldrift.agents.claude_code:ClaudeCodeAgent"),
    "codex": Harness(CodexOptions, "goaldrift.agents.codex:CodexAgent"),
    "qwen-code": Harness(QwenCodeOptions, "goaldrift.agents.qwen_code:QwenCodeAgent"),
}
DEFAULT_HARNESS = "opencode"


def create_agent(name: str, options: dict[str, Any] | None = None) -> Agent:
    """A new, unstarted agent of harness ``name``."""
    harness = HARNESSES.get(name)
    if harness is None:
        raise ConfigError(f"unknown agent harness {name!r}: use one of {', '.join(HARNESSES)}")
    module, _, cls = harness.agent.partition(":")
    return getattr(importlib.import_module(module), cls)(options)
