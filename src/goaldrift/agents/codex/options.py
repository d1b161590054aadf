"""Codex CLI's options (``agent.options`` of an experiment with ``harness: codex``).

Kept apart from the driver so loading an experiment imports only this model (see agents/registry.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from goaldrift.agents.cli_harness import CliOptions


class CodexOptions(CliOptions):
    """Codex CLI 0.169.0 driven with ``codex exec --json`` (docs/harnesses.md)."""

    prompt_mode: Literal["append", "replace"] = Field(
        "append", description="placement system_prompt: add the constraint as developer instructions "
        "(developer_instructions) or replace Codex's own prompt with it (model_instructions_file)")
    context_window: int | None = Field(None, ge=1024, description="the model's context window Codex is told "
                                       "(model_context_window); Codex compacts near it. Default: Codex's "
                                       "fallback for unknown models")
