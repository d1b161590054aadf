"""Qwen Code's options (``agent.options`` of an experiment with ``harness: qwen-code``).

Kept apart from the driver so loading an experiment imports only this model (see agents/registry.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from goaldrift.agents.cli_harness import CliOptions


class QwenCodeOptions(CliOptions):
    """Qwen Code 0.24.4 driven with ``qwen <prompt> -o stream-json`` (docs/harnesses.md)."""

    prompt_mode: Literal["append", "replace"] = Field(
        "append", description="placement system_prompt: append the constraint to Qwen Code's system prompt "
        "(--append-system-prompt) or replace that prompt with it (--system-prompt)")
    context_window: int | None = Field(None, ge=1024, description="the model's context window Qwen Code is "
                                       "told (model.generationConfig.contextWindowSize); it compresses the "
                                       "chat near it. Default: Qwen Code's own for unknown models")
    disabled_tools: tuple[str, ...] = Field((), description="Qwen Code tools removed (--exclude-tools), "
                                            "e.g. [agent, skill, tool_search]")
