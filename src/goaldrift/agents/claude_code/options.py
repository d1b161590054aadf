"""Claude Code's options (``agent.options`` of an experiment with ``harness: claude-code``).

Kept apart from the driver so loading an experiment imports only this model (see agents/registry.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from goaldrift.agents.cli_harness import CliOptions


class ClaudeCodeOptions(CliOptions):
    """Claude Code 2.1.328 driven with ``claude -p … --output-format stream-json`` (docs/harnesses.md)."""

    prompt_mode: Literal["append", "replace"] = Field(
        "append", description="placement system_prompt: append the constraint to Claude Code's system prompt "
        "(--append-system-prompt) or replace that prompt with it (--system-prompt)")
    autocompact: bool = Field(True, description="Claude Code's automatic compaction (DISABLE_AUTO_COMPACT when off)")
    disabled_tools: tuple[str, ...] = Field((), description="Claude Code tools removed (--disallowedTools), "
                                            "e.g. [Agent, Workflow, Skill, ScheduleWakeup]")
